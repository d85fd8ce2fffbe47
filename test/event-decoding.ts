// The event stream's pure parts, through the dependencies they take: the
// notify pipe's records decoded by the addon's own layout, and the handler's
// facts read by the addon's own slot names (a block filled here, as the
// handler's atomics would fill it). The whole path, from a real signal to
// the log, is test/wrapper.ts's and test/production-shutdown.ts's.
import t from 'tap';
import { decodeRecords } from '../dist/wrapper/supervisor/event-records.js';
import { HandlerFacts } from '../dist/wrapper/supervisor/handler-facts.js';
import type { SupervisionEvent } from '../dist/wrapper/supervisor/handler.js';
import { native } from '../dist/core/native.js';

const addon = native();
const layout = addon.event;
const slots = addon.factsLayout;

interface Record {
  kind: keyof typeof layout.kinds;
  signal?: number;
  delivered?: number;
  pid?: number;
  value?: number;
  startTicks?: bigint;
  comm?: string;
}

/** Records as the handler writes them (struct reaper::Event), at the offsets the addon names. */
function records(...list: Record[]): Buffer {
  const data = Buffer.alloc(layout.size * list.length);
  list.forEach((record, index) => {
    const at = index * layout.size;
    data[at + layout.kind] = layout.kinds[record.kind];
    data[at + layout.signal] = record.signal ?? 0;
    data[at + layout.delivered] = record.delivered ?? 0;
    data.writeInt32LE(record.pid ?? 0, at + layout.pid);
    data.writeInt32LE(record.value ?? 0, at + layout.value);
    data.writeBigUInt64LE(record.startTicks ?? 0n, at + layout.startTicks);
    data.write(record.comm ?? '', at + layout.comm, layout.commSize, 'utf8');
  });
  return data;
}

const decode = (data: Buffer, bytes = data.length, mainPid = 100) => {
  const out: SupervisionEvent[] = [];
  decodeRecords(data, bytes, layout, mainPid, (event) => out.push(event));
  return out;
};

t.test('each kind of record becomes its event, by the layout the addon exports', async (t) => {
  const events = decode(records(
    { kind: 'forwarded', signal: 15, delivered: 2, pid: 7, value: 0 },
    { kind: 'forwarded', signal: 10, delivered: 10, pid: 0, value: 3 },
    { kind: 'dropped', signal: 1, pid: 8 },
    { kind: 'noTarget', signal: 15, pid: 9, delivered: 1 },
    { kind: 'stopped', signal: 19, pid: 100 },
    { kind: 'continued', signal: 18, pid: 100 },
    { kind: 'exited', pid: 200, value: 3 << 8, startTicks: 12345n, comm: 'sleep' },
    { kind: 'exited', pid: 201, value: 9 | 0x80, comm: 'worker' },
    { kind: 'wake' },
  ));
  t.same(events, [
    { kind: 'forwarded', signal: 15, delivered: 2, sender: 7, error: 0 },
    { kind: 'forwarded', signal: 10, delivered: 10, sender: 0, error: 3 },
    { kind: 'dropped', signal: 1, sender: 8 },
    { kind: 'after-exit', signal: 15, sender: 9, endsDrain: true },
    { kind: 'stopped', pid: 100, signal: 19 },
    { kind: 'continued', pid: 100, signal: 18 },
    { kind: 'orphan-exited', pid: 200, status: { exitCode: 3, signal: null, coreDumped: false }, comm: 'sleep', startTicks: 12345 },
    { kind: 'orphan-exited', pid: 201, status: { exitCode: null, signal: 9, coreDumped: true }, comm: 'worker', startTicks: 0 },
  ]);
});

t.test("the app's own exit record is skipped: its exit comes from the facts", async (t) => {
  const data = records({ kind: 'exited', pid: 100, value: 0, comm: 'app' }, { kind: 'exited', pid: 101, value: 0, comm: 'orphan' });
  t.same(decode(data).map((event) => 'pid' in event && event.pid), [101]);
  t.same(decode(data, data.length, 0).length, 2, 'with --pause (no app) every exit is an orphan\'s');
});

t.test('a partial record at the end of a read is not decoded', async (t) => {
  const data = records({ kind: 'dropped', signal: 1 }, { kind: 'dropped', signal: 2 });
  t.same(decode(data, layout.size + layout.size - 1).map((event) => 'signal' in event && event.signal), [1]);
});

t.test('a name that fills the whole comm field is cut at its size, not read past it', async (t) => {
  const data = records({ kind: 'exited', pid: 5, comm: 'x'.repeat(layout.commSize) }, { kind: 'dropped', signal: 65 });
  const [exit] = decode(data);
  t.equal(exit && 'comm' in exit && exit.comm, 'x'.repeat(layout.commSize));
});

/** A facts block the test fills by name, as the handler's atomics would. */
function factsSource(name = 'app') {
  const values = new Float64Array(slots.size);
  const set = (fact: Exclude<keyof typeof slots, 'size'>, value: number) => { values[slots[fact]] = value; };
  return { set, source: { layout: slots, read: (into: Float64Array) => into.set(values), mainName: () => name } };
}

t.test('facts become events once each, in order: orphans reaped, stop requested, app exited', async (t) => {
  const { set, source } = factsSource('node');
  const facts = new HandlerFacts(source);
  const seen: SupervisionEvent[] = [];
  const emit = (event: SupervisionEvent) => seen.push(event);
  facts.changes(emit);
  t.same(seen, [], 'nothing happened yet');
  set('orphansReaped', 3);
  facts.changes(emit);
  set('orphansReaped', 5);
  set('stopSignal', 15);
  set('mainExited', 1);
  set('mainStatus', 2 << 8);
  facts.changes(emit);
  facts.changes(emit);
  t.same(seen, [
    { kind: 'orphans-reaped', count: 3 },
    { kind: 'orphans-reaped', count: 2 },
    { kind: 'stop-requested', signal: 15 },
    { kind: 'app-exited', status: { exitCode: 2, signal: null, coreDumped: false }, comm: 'node' },
  ], 'the second read of the same facts adds nothing');
});

t.test('a held SIGTERM is reported once, with when and from whom', async (t) => {
  const { set, source } = factsSource();
  const facts = new HandlerFacts(source);
  const seen: SupervisionEvent[] = [];
  facts.termHeld((event) => seen.push(event));
  set('termHeld', 1);
  set('termHeldMsAgo', 40);
  set('termHeldSender', 77);
  facts.termHeld((event) => seen.push(event));
  facts.termHeld((event) => seen.push(event));
  t.same(seen, [{ kind: 'term-held', msAgo: 40, sender: 77 }]);
});

t.test('the drain interruption and the dropped-record count are read by name, fresh each time', async (t) => {
  const { set, source } = factsSource();
  const facts = new HandlerFacts(source);
  t.equal(facts.drainInterrupt, 0);
  set('drainInterrupt', 2);
  set('eventsDropped', 12);
  t.equal(facts.drainInterrupt, 2);
  t.equal(facts.dropped, 12);
});
