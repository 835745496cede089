'use strict';
// maxConnections 1 and 'drop' (N61): the second client is accepted and
// closed at once with 'drop' (loopback addresses, IPv4); it sees a normal
// end. (maxConnections 0 differs on purpose: unlimited in Node 20, every
// connection dropped in nodenet, as Node 21+.) Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  log('S connection', server.maxConnections);
  s.on('error', () => {});
  s.write('hi');
});
server.maxConnections = 1;
server.on('drop', (d) => {
  log('S drop', d.localAddress, d.localFamily, d.localPort === server.address().port,
    d.remoteAddress, d.remoteFamily, typeof d.remotePort);
});
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const c1 = net.connect(port, '127.0.0.1');
  c1.on('data', (d) => {
    log('C1 data', q(d));
    const c2 = net.connect(port, '127.0.0.1');
    traceAll('C2', c2);
    c2.on('close', () => {
      c1.end();
      server.close();
    });
  });
  c1.on('end', () => log('C1 end'));
  c1.on('close', (h) => log('C1 close', h));
});
