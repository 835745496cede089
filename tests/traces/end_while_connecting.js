'use strict';
// end() while connecting (N34): the data and the FIN wait for the
// connection; connect → finish → end → close; the server gets the data.
// Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.resume();
  c.end('x');
  log('C after-end', c.readyState, c.writable, c.writableEnded, c.connecting);
  traceAll('C', c);
});
