'use strict';
// destroy() is idempotent; a write after it (N10) returns false and its
// callback gets ERR_STREAM_DESTROYED; no 'error'; close(false). The peer
// sees a normal end. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    log('C destroy twice', c.destroy().destroy() === c);
    log('C write ->', c.write('x', (e) => log('C write cb', e ? fmtErr(e) : 'ok')));
  });
  traceAll('C', c);
});
