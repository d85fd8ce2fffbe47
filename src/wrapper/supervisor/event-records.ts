// The notify pipe's records, decoded by name (struct reaper::Event, whose
// layout the addon exports). Records are hints: they carry details for the
// log, and a full pipe drops them; no fact travels only here (src/wrapper/supervisor/handler-facts.ts).
import { decodeWaitStatus } from '../../core/exit-status.js';
import type { SupervisionEvent } from './handler.js';
import type { EventLayout } from '../../core/native.js';

/**
 * Decodes the first `bytes` bytes of data, one record at a time, into emit.
 * The main child's exit record is skipped: its exit is a fact, read from the
 * handler's atomics, so it is never lost with a dropped record.
 */
export function decodeRecords(data: Buffer, bytes: number, layout: EventLayout, mainPid: number,
  emit: (event: SupervisionEvent) => void): void {
  const { kinds } = layout;
  for (let at = 0; at + layout.size <= bytes; at += layout.size) {
    const kind = data[at + layout.kind]!;
    const signal = data[at + layout.signal]!;
    const pid = data.readInt32LE(at + layout.pid);
    const value = data.readInt32LE(at + layout.value);
    if (kind === kinds.forwarded) {
      emit({ kind: 'forwarded', signal, delivered: data[at + layout.delivered]!, sender: pid, error: value });
    } else if (kind === kinds.dropped) {
      emit({ kind: 'dropped', signal, sender: pid });
    } else if (kind === kinds.stopped || kind === kinds.continued) {
      emit({ kind: kind === kinds.stopped ? 'stopped' : 'continued', pid, signal });
    } else if (kind === kinds.noTarget) {
      emit({ kind: 'after-exit', signal, sender: pid, endsDrain: data[at + layout.delivered] !== 0 });
    } else if (kind === kinds.exited && pid !== mainPid) {
      const end = data.indexOf(0, at + layout.comm);
      const comm = data.toString('utf8', at + layout.comm, Math.min(end < 0 ? Infinity : end, at + layout.comm + layout.commSize));
      emit({ kind: 'orphan-exited', pid, status: decodeWaitStatus(value), comm, startTicks: Number(data.readBigUInt64LE(at + layout.startTicks)) });
    }
    // kinds.wake only wakes us: the facts say what it was about.
  }
}
