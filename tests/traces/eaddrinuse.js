'use strict';
// EADDRINUSE (N54): a second server listens on the first one's port:
// 'error' on a later tick, not listening, no 'close'; its listen callback
// stays registered, so after listen(0) succeeds both callbacks run. In
// order.
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

const s1 = net.createServer();
s1.on('close', () => log('S1 close'));
s1.listen(0, '127.0.0.1', () => {
  const s2 = net.createServer();
  s2.on('close', () => log('S2 close'));
  s2.on('error', (e) => {
    log('S2 error', fmtErr(e));
    log('S2 after error', s2.listening, JSON.stringify(s2.address()), s2.listenerCount('listening'));
    s2.listen(0, '127.0.0.1', () => {
      log('S2 listening cb2', s2.listening, s2.address().port !== s1.address().port);
      s2.close();
      s1.close();
    });
  });
  s2.listen(s1.address().port, '127.0.0.1', () => log('S2 listening cb1'));
  log('S2 listen returned');
});
