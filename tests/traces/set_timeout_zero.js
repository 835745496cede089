'use strict';
// setTimeout(0) disables the idle timer (N47): setTimeout(1000, cb), then
// setTimeout(0) (which keeps cb as a listener); 1.5 s of idleness bring no
// 'timeout'. In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  s.write('ping');
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    c.setTimeout(1000, () => log('C timeout cb'));
    log('C returns itself', c.setTimeout(0) === c);
    log('C timeout listeners', c.listenerCount('timeout'));
  });
  c.on('timeout', () => log('C timeout'));
  c.on('data', (d) => {
    log('C data', q(d));
    setTimeout(() => {
      log('C idle 1500 ms');
      c.end();
    }, 1500);
  });
  c.on('close', (h) => log('C close', h));
});
