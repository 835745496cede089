'use strict';
// destroy(err) ordering (N09): destroyed at once and nothing emitted yet;
// 'error' on the next tick, before a nextTick queued after the call; then
// the nextTick, then the setImmediate, then close(true). The error carries
// a code (ECONNABORTED) as nodenet's Error has one. In order.
const net = require('net');
const log = (...a) => console.log(a.join(' '));
const q = (v) => JSON.stringify(String(v));
const fmtErr = (e) =>
  `${e.code} ${e.syscall ?? '-'} ${e.errno ?? '-'} ${q(e.message.replace(/:\d+/g, ':PORT'))}`;
function traceAll(tag, s) {
  for (const ev of ['connect', 'ready', 'end', 'finish', 'drain', 'timeout']) {
    s.on(ev, () => log(tag, ev));
  }
  s.on('data', (d) => log(tag, 'data', q(d)));
  s.on('error', (e) => log(tag, 'error', fmtErr(e)));
  s.on('close', (hadError) => log(tag, 'close', hadError));
}

const server = net.createServer((s) => {
  s.on('error', () => {});
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    const err = new Error('boom');
    err.code = 'ECONNABORTED';
    const r = c.destroy(err);
    log('C destroyed', r === c, c.destroyed, c.readyState);
    process.nextTick(() => log('C nextTick'));
    setImmediate(() => log('C setImmediate'));
    log('C returned');
  });
  c.on('error', (e) => log('C error', fmtErr(e), c.destroyed, c.errored === e));
  c.on('close', (h) => log('C close', h));
});
