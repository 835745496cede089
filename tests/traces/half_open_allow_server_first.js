'use strict';
// The server ends first with end('bye') (default allowHalfOpen); the client
// has allowHalfOpen and, in 'end', still writes, then ends. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  s.end('bye');
  log('S after-end', s.readyState);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect({ port: server.address().port, host: '127.0.0.1', allowHalfOpen: true });
  c.on('end', () => {
    log('C in-end', c.readyState, c.writable);
    log('C write ->', c.write('late'));
    c.end();
    log('C after-end', c.readyState);
  });
  traceAll('C', c);
});
