'use strict';
// Activity re-arms the idle timer (N49): setTimeout(1000) on the client;
// the server writes every 300 ms four times, then goes quiet. One
// 'timeout' comes after the last read, and the listener destroys the
// socket. (nodenet's timeouts are whole seconds: 1000 ms on both sides.)
// Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  let i = 0;
  const iv = setInterval(() => {
    s.write(String(++i));
    if (i === 4) clearInterval(iv);
  }, 300);
  s.on('end', () => log('S end'));
  s.on('close', (h) => log('S close', h));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.setTimeout(1000));
  let timeouts = 0;
  c.on('timeout', () => {
    log('C timeout', ++timeouts, c.destroyed);
    c.destroy();
  });
  c.on('data', (d) => log('C data', q(d)));
  c.on('close', (h) => log('C close', h));
});
