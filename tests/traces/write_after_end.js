'use strict';
// In 'connect': end(), then write(): the write returns false, the socket is
// destroyed at once, the callback gets ERR_STREAM_WRITE_AFTER_END, then
// 'error' with it, then close(true) (N25). Per actor.
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
  traceAll('S', s);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    c.end();
    const r = c.write('late', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
    log('C write ->', r, c.destroyed);
  });
  traceAll('C', c);
});
