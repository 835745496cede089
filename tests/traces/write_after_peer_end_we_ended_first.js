'use strict';
// allowHalfOpen false: the client ends first, the server ends 20 ms after
// its 'end'; inside the client's 'end' a write fails with EPIPE "This
// socket has been ended by the other party" (not ERR_STREAM_WRITE_AFTER_END:
// whoever ended first), callback first, then 'error', then close(true)
// (issue 10, item 9). Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  s.on('error', () => {});
  s.on('end', () => setTimeout(() => s.end(), 20));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.end());
  c.resume();
  c.on('end', () => {
    log('C in-end', c.writableEnded);
    const r = c.write('late', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
    log('C write ->', r, c.destroyed);
  });
  traceAll('C', c);
});
