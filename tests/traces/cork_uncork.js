'use strict';
// cork()/uncork() (N37): corked writes while connecting are counted at once
// (bytesWritten 7 for 'one' + 'twø'); connected corked writes stay queued
// (writableLength) until uncork(); nested corks need as many uncorks; their
// callbacks run in order; the peer gets everything in order. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { got += d; });
  s.on('end', () => log('S got', q(got), s.bytesRead));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    log('C connect', c.bytesWritten, c.writableCorked);
    c.cork();
    c.cork();
    c.write('a', () => log('C cb a'));
    c.write('b', () => log('C cb b'));
    log('C corked', c.writableCorked, c.writableLength);
    c.uncork();
    log('C uncorked once', c.writableCorked, c.writableLength);
    c.uncork();
    log('C uncorked twice', c.writableCorked, c.bytesWritten);
    c.end(() => log('C end cb', c.bytesWritten));
  });
  c.cork();
  c.write('one');
  c.write(Buffer.from('twø'));
  c.uncork();
  log('C while connecting', c.bytesWritten, c.writableCorked);
  c.on('finish', () => log('C finish'));
  c.on('close', (h) => log('C close', h));
});
