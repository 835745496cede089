'use strict';
// setEncoding('utf8') keeps a character split across reads whole (N46):
// 'あいう' (9 bytes) is sent as 4 bytes, then (after the client's ack)
// the other 5: 'data' gives 'あ', then 'いう'. In order.
const net = require('net');
const log = (...a) => console.log(a.join(' '));
const q = (v) => JSON.stringify(String(v));
const fmtErr = (e) =>
  `${e.code} ${e.syscall ?? '-'} ${e.errno ?? '-'} ${q(e.message.replace(/:\d+/g, ':PORT'))}`;
function traceAll(tag, s) {
  for (const ev of ['connect', 'ready', 'end', 'finish', 'drain', 'timeout']) {
    s.on(ev, () => log(tag, ev));
  }
  s.on('data', (d) => log(tag, 'data', q(d)));
  s.on('error', (e) => log(tag, 'error', fmtErr(e)));
  s.on('close', (hadError) => log(tag, 'close', hadError));
}

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
