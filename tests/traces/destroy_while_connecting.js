'use strict';
// destroy() right after connect() (N07), with a write queued: destroyed at
// once, no longer connecting; the write's callback gets
// ERR_SOCKET_CLOSED_BEFORE_CONNECTION; no 'connect', no 'error';
// close(false). In order.
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

const server = net.createServer();
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.write('queued', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
  const r = c.destroy();
  log('C destroyed', r === c, c.destroyed, c.connecting);
  c.on('connect', () => log('C connect'));
  c.on('error', (e) => log('C error', fmtErr(e)));
  c.on('close', (h) => {
    log('C close', h);
    server.close();
  });
});
