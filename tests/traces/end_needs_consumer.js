'use strict';
// 'end' waits until buffered data is consumed (N03): with no 'data'
// listener and no resume(), 'hello' and the FIN sit in the buffer (polled
// with readableLength) and no 'end' comes; a 'data' listener then gets
// 'hello', then 'end' and 'close'. Per actor.
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
