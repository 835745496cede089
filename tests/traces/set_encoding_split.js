'use strict';
// setEncoding('utf8') keeps a character split across reads whole (N46):
// 'あいう' (9 bytes) is sent as 4 bytes, then (after the client's ack)
// the other 5: 'data' gives 'あ', then 'いう'. In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const bytes = Buffer.from('あいう');
const server = net.createServer((s) => {
  s.on('error', () => {});
  s.write(bytes.subarray(0, 4));
  s.once('data', () => s.end(bytes.subarray(4)));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.setEncoding('utf8');
  c.on('data', (d) => {
    log('C data', q(d), typeof d, d.length);
    if (d === 'あ') c.write('ack');
  });
  c.on('end', () => log('C end', c.bytesRead));
  c.on('close', (h) => log('C close', h));
});
