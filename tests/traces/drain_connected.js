'use strict';
// A connected server socket (highWaterMark 16 KiB on both sides) writes
// 4 MiB to a client that holds off reading: write() returns false and
// writableNeedDrain is set; once the client reads, one 'drain' comes, then
// the write's callback; a small write after 'drain' returns true.
// Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const SIZE = 4 << 20;
const server = net.createServer({ highWaterMark: 16384 }, (s) => {
  const r = s.write(Buffer.alloc(SIZE, 120), (e) => log('S write cb', e ? fmtErr(e) : 'ok'));
  log('S write ->', r, s.writableNeedDrain, s.writableLength > 0);
  s.on('drain', () => {
    log('S drain', s.writableLength, s.writableNeedDrain);
    log('S write ->', s.write('!'));
    s.end();
  });
  s.on('finish', () => log('S finish'));
  s.on('close', (h) => log('S close', h));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect({ port: server.address().port, host: '127.0.0.1', highWaterMark: 16384 });
  c.pause();
  c.on('connect', () => {
    log('C connect', c.isPaused());
    setTimeout(() => {
      log('C resume');
      c.resume();
    }, 200);
  });
  let total = 0;
  c.on('data', (d) => { total += d.length; });
  c.on('end', () => log('C end', total));
  c.on('close', (h) => log('C close', h));
});
