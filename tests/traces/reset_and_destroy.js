'use strict';
// resetAndDestroy() (N67): the client resets on its first 'data'; it gets
// close(false) with no error, the server socket gets ECONNRESET from read,
// then close(true), and no 'end'; a write after the reset fails its
// callback with ERR_STREAM_DESTROYED. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  s.write('hi');
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('data', () => {
    const r = c.resetAndDestroy();
    log('C reset', r === c, c.destroyed);
    log('C write ->', c.write('x', (e) => log('C write cb', e ? fmtErr(e) : 'ok')));
  });
  traceAll('C', c);
});
