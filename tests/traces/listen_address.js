'use strict';
// listen(0, '127.0.0.1') and address() (N53): null before listening, the
// bound address in 'listening' (port chosen by the system), null again
// after close(). Not traced: address() right after the listen() call:
// Node resolves even an IP literal on a later tick (null, not listening),
// nodenet binds an IP literal at once (a documented difference). In order.
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
log('S before', JSON.stringify(server.address()), server.listening);
server.on('listening', () => {
  const a = server.address();
  log('S listening', a.address, a.family, a.port > 0, server.listening);
  log('S close returns itself', server.close() === server);
  log('S after close', JSON.stringify(server.address()), server.listening);
});
server.on('close', () => log('S close'));
log('S listen returns itself', server.listen(0, '127.0.0.1') === server);
