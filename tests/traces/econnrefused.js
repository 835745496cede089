'use strict';
// ECONNREFUSED (N13): connecting to a port nobody listens on (a server's,
// once closed): 'error' with code, syscall, errno and message; in it the
// socket is destroyed and no longer connecting; then close(true). In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer();
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  server.close(() => {
    const c = net.connect(port, '127.0.0.1');
    log('C connecting', c.connecting, c.readyState);
    c.on('connect', () => log('C connect'));
    c.on('error', (e) => {
      log('C error', fmtErr(e), e.address, e.port === port);
      log('C in-error', c.connecting, c.destroyed, c.readyState);
    });
    c.on('close', (h) => log('C close', h));
  });
});
