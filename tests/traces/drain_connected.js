'use strict';
// A connected server socket (highWaterMark 16 KiB on both sides) writes
// 256 KiB chunks to a client that holds off reading until write() returns
// false (how many that takes is up to the kernel's buffers, so it is not
// logged): writableNeedDrain is set; once the client reads, one 'drain'
// comes, then the last write's callback; a small write after 'drain'
// returns true. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const CHUNK = 256 * 1024;
let sent = 0;
const server = net.createServer({ highWaterMark: 16384 }, (s) => {
  let writes = 0;
  let r = true;
  while (r && writes < 4096) {
    const n = ++writes;
    sent += CHUNK;
    r = s.write(Buffer.alloc(CHUNK, 120), (e) => {
      if (n === writes) log('S write cb', e ? fmtErr(e) : 'ok');
    });
  }
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
  c.on('end', () => log('C end', total === sent + 1));
  c.on('close', (h) => log('C close', h));
});
