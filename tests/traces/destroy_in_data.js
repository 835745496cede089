'use strict';
// Two 'data' listeners; the first destroys the socket. The second still
// runs for the same chunk; no 'end'; close(false). The peer sees a normal
// end (N11). Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  s.write('hello');
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('data', (d) => {
    log('C data1', q(d));
    log('C destroy returns itself', c.destroy() === c, c.destroyed);
  });
  c.on('data', (d) => log('C data2', q(d), c.destroyed));
  traceAll('C', c);
});
