'use strict';
// In 'connect': end(), then write(): the write returns false, the socket is
// destroyed at once, the callback gets ERR_STREAM_WRITE_AFTER_END, then
// 'error' with it, then close(true) (N25). Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    c.end();
    const r = c.write('late', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
    log('C write ->', r, c.destroyed);
  });
  traceAll('C', c);
});
