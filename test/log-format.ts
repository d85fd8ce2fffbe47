// The pieces every log line is made of (issue 22), in-process: printable()
// escapes what must not reach a line or a terminal, shortening keeps whole
// characters and says how much is left out, and a line never exceeds
// PIPE_BUF (4096 bytes) however long its values. The end-to-end cases, with
// reaper as PID 1 and real pipes, are in test/stress/log-lines.ts.
import t from 'tap';
import { listed, printable, toJson, truncated } from '../dist/core/format.js';
import { jsonLine, LINE_MAX, textLine } from '../dist/wrapper/log.js';

const bytes = (line: string) => Buffer.byteLength(line);

t.test('printable: every control character escaped visibly, nothing else changed', async (t) => {
  t.equal(printable('x\nreaper[1] ERROR: forged'), 'x\\nreaper[1] ERROR: forged', 'a newline cannot start a line');
  t.equal(printable('\u001b[2J\u001b]0;pwned\u0007'), '\\x1b[2J\\x1b]0;pwned\\x07', 'ESC, OSC and BEL');
  t.equal(printable('a\u009bb\u007fc\u2028d\u202ee'), 'a\\x9bb\\x7fc\\u2028d\\u202ee', 'C1 CSI, DEL, line separator, bidi override');
  t.equal(printable('café ) \ufffd 日本 \\x1b'), 'café ) \ufffd 日本 \\x1b', 'UTF-8, ")", U+FFFD and backslashes stay as they are');
  const hostile = 'x\n\u001b\u009b\t\r';
  t.equal(printable(printable(hostile)), printable(hostile), 'escaping twice changes nothing (the logger escapes whole lines again)');
});

t.test('shortening: a count of what is left out, never half a character', async (t) => {
  t.equal(truncated('a'.repeat(100_000), 10), 'aaaaaaaaaa… 99,990 more characters');
  t.equal(truncated('short', 10), 'short');
  const emoji = `${'a'.repeat(9)}😀tail`; // the pair spans characters 10 and 11
  t.equal(truncated(emoji, 10), `${'a'.repeat(9)}… 6 more characters`, 'a surrogate pair is kept whole or left out whole');
  t.equal(printable('a'.repeat(300)), `${'a'.repeat(200)}… 100 more characters`, '200 characters by default');
  t.equal(listed(Array.from({ length: 1500 }, (_, i) => String(i))), '0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … 1,490 more');
  t.equal(listed(['a', 'b']), 'a, b');
});

t.test('toJson: valid JSON, the same value, no raw DEL, C1 or line separator', async (t) => {
  const value = { comm: '\n\u001b\u009b\u007f\u2028x' };
  const text = toJson(value);
  t.notMatch(text, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, 'nothing raw');
  t.same(JSON.parse(text), value, 'parses to the same value');
});

t.test('a text line: one line, at most PIPE_BUF bytes, cut at a whole character with a count', async (t) => {
  const head = 'reaper[1] WARN: ';
  const line = textLine(head, `orphan ${'é'.repeat(10_000)}\nreaper[1] ERROR: forged`);
  t.ok(bytes(line) <= LINE_MAX, `${bytes(line)} bytes`);
  t.equal(line.split('\n').length, 2, 'one line and its newline');
  t.match(line, /^reaper\[1\] WARN: orphan é+… \d{1,3}(,\d{3})* more characters\n$/, 'whole characters, then the count');
  t.equal(textLine(head, 'short'), 'reaper[1] WARN: short\n');
});

t.test('a JSON line: at most PIPE_BUF bytes, parses, lists and strings shortened step by step', async (t) => {
  const processes = Array.from({ length: 1500 }, (_, i) => ({ pid: i + 2, comm: 'sleep', exitedAfterMs: 3, killed: false }));
  const drain = JSON.parse(jsonLine({ msg: 'drained 1500 processes', event: 'drain', processes, killed: processes }));
  t.equal(drain.processes.length, 20);
  t.equal(drain.processesOmitted, 1480, 'the count beside the list');
  t.equal(drain.killedOmitted, 1480);
  const command = JSON.parse(jsonLine({ msg: 'orphan', command: 'a'.repeat(100_000) }));
  t.equal(command.command, `${'a'.repeat(1000)}… 99,000 more characters`);
  // Too many fields for any step: the message, and how many fields were left out.
  const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`field${i}`, 'x'.repeat(50)]));
  const line = jsonLine({ time: 't', level: 'warn', reaperPid: 1, msg: 'm', event: 'e', ...many });
  t.ok(bytes(line) <= LINE_MAX, `${bytes(line)} bytes`);
  const record = JSON.parse(line);
  t.equal(record.msg, 'm');
  t.equal(record.fieldsOmitted, 400, 'says how many fields were left out');
});
