'use strict';
// The server queues 8 writes of 256 KiB with callbacks, then end(cb): every
// byte arrives in order before the FIN, and the callbacks run in order,
// before the end callback and 'finish' (N32). highWaterMark 16 KiB on both
// sides (Node 20's default; nodenet's is 64 KiB). Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const CHUNK = 256 * 1024;
const N = 8;
const server = net.createServer({ highWaterMark: 16384 }, (s) => {
  for (let i = 0; i < N; i++) {
    s.write(Buffer.alloc(CHUNK, 97 + i), (e) => log('S write cb', i, e ? fmtErr(e) : 'ok'));
  }
  s.end((e) => log('S end cb', e ? fmtErr(e) : 'ok'));
  log('S after-end', s.bytesWritten, s.writableEnded, s.writableFinished);
  s.on('finish', () => log('S finish', s.writableLength));
  s.on('close', (h) => log('S close', h));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect({ port: server.address().port, host: '127.0.0.1', highWaterMark: 16384 });
  let total = 0;
  let inOrder = true;
  c.on('data', (d) => {
    for (let k = 0; k < d.length; k++) {
      if (d[k] !== 97 + Math.floor((total + k) / CHUNK)) inOrder = false;
    }
    total += d.length;
  });
  c.on('end', () => log('C end', total, inOrder));
  c.on('close', (h) => log('C close', h));
});
