'use strict';
// 'end' waits until buffered data is consumed (N03): with no 'data'
// listener and no resume(), 'hello' and the FIN sit in the buffer (polled
// with readableLength) and no 'end' comes; a 'data' listener then gets
// 'hello', then 'end' and 'close'. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  s.end('hello');
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('end', () => log('C end'));
  c.on('close', (h) => log('C close', h));
  const poll = setInterval(() => {
    if (c.readableLength < 5) return;
    clearInterval(poll);
    setTimeout(() => {
      log('C buffered', c.readableLength, c.bytesRead, c.readableEnded, c.destroyed, c.readyState);
      c.on('data', (d) => log('C data', q(d)));
    }, 100);
  }, 10);
});
