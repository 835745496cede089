'use strict';
// Addresses (N64): while connecting none; once connected both ends agree
// (remote/local address, family, ports); in 'close' the remote address is
// still readable. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

let clientLocalPort;
let port;
const server = net.createServer((s) => {
  log('S connection', s.remoteAddress, s.remoteFamily, s.localAddress, s.localFamily,
    s.localPort === port, typeof s.remotePort, s.server === server);
  s.on('close', () => log('S close', s.remoteAddress, s.remotePort === clientLocalPort));
  s.end();
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  const c = net.connect(port, '127.0.0.1');
  log('C connecting', String(c.remoteAddress), String(c.remotePort), String(c.localAddress),
    String(c.localPort));
  c.on('connect', () => {
    clientLocalPort = c.localPort;
    log('C connect', c.remoteAddress, c.remoteFamily, c.remotePort === port,
      c.localAddress, c.localFamily, typeof c.localPort, c.address().port === c.localPort);
  });
  c.resume();
  c.on('close', () => log('C close', c.remoteAddress, c.remotePort === port));
});
