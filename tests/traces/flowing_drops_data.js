'use strict';
// Flowing mode with no 'data' listener drops data (N05): the client calls
// resume() at once; the server's 'early' is read (bytesRead) and dropped;
// once a 'data' listener is added, 'late' arrives, then 'end'. Sequenced
// by events and a poll of bytesRead. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  s.write('early');
  s.once('data', () => s.end('late'));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.resume();
  const poll = setInterval(() => {
    if (c.bytesRead < 5) return;
    clearInterval(poll);
    log('C read without listener', c.bytesRead, c.readableLength);
    c.on('data', (d) => log('C data', q(d)));
    c.write('go');
  }, 10);
  c.on('end', () => log('C end', c.bytesRead));
  c.on('close', (h) => log('C close', h));
});
