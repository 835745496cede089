'use strict';
// destroy(err) ordering (N09): destroyed at once and nothing emitted yet;
// 'error' on the next tick, before a nextTick queued after the call; then
// the nextTick, then the setImmediate, then close(true). The error carries
// a code (ECONNABORTED) as nodenet's Error has one. In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

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
