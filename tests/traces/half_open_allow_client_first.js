'use strict';
// allowHalfOpen on both sides; the client ends first with end('req'); the
// server, in 'end', still writes its reply, then ends (N23). Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer({ allowHalfOpen: true }, (s) => {
  traceAll('S', s);
  s.on('end', () => {
    log('S in-end', s.readable, s.writable, s.readyState);
    log('S write ->', s.write('reply'));
    s.end();
    log('S after-end', s.readyState);
  });
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect({ port: server.address().port, host: '127.0.0.1', allowHalfOpen: true }, () => {
    c.end('req');
    log('C after-end', c.readyState);
  });
  c.on('end', () => log('C in-end', c.readyState));
  traceAll('C', c);
});
