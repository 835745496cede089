'use strict';
// bytesRead and bytesWritten (N39, N40): bytesWritten counts accepted
// bytes at once; both totals are right at 'end' and still in 'close'.
// Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.write('hello');
  log('S after write', s.bytesWritten);
  s.end('world!');
  log('S after end', s.bytesWritten);
  s.on('data', () => {});
  s.on('end', () => log('S end', s.bytesRead, s.bytesWritten));
  s.on('close', () => log('S close', s.bytesRead, s.bytesWritten));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  log('C before connect', c.bytesRead, c.bytesWritten);
  c.write('abc');
  log('C after write', c.bytesWritten);
  let total = 0;
  c.on('data', (d) => { total += d.length; });
  c.on('end', () => log('C end', total, c.bytesRead, c.bytesWritten));
  c.on('close', () => log('C close', c.bytesRead, c.bytesWritten));
});
