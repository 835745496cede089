'use strict';
// The client half-closes first with end('bye'); allowHalfOpen is false on
// both sides (N02). Compared per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('end', () => log('S in-end', s.writable, s.readable, s.destroyed, s.readyState));
  traceAll('S', s);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    c.end('bye');
    log('C after-end', c.readyState, c.writable);
  });
  c.on('end', () => log('C in-end', c.readyState));
  traceAll('C', c);
  c.on('close', () => log('C in-close', c.pending));
});
