'use strict';
// pauseOnConnect (N45): accepted sockets start paused (isPaused,
// readableFlowing false); nothing is read until resume(), 200 ms later;
// then the data arrives. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer({ pauseOnConnect: true }, (s) => {
  log('S connection', s.isPaused(), s.readableFlowing);
  s.on('data', (d) => log('S data', q(d)));
  log('S after data listener', s.isPaused(), s.readableFlowing);
  s.on('end', () => log('S end'));
  s.on('close', (h) => log('S close', h));
  setTimeout(() => {
    log('S before resume', s.bytesRead, s.readableLength);
    s.resume();
  }, 200);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.end('test'));
  c.on('end', () => log('C end'));
  c.on('close', (h) => log('C close', h));
});
