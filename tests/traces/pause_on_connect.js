'use strict';
// pauseOnConnect (N45): accepted sockets start paused (isPaused,
// readableFlowing false); nothing is read until resume(), 200 ms later;
// then the data arrives. Per actor.
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

const server = net.createServer({ pauseOnConnect: true }, (s) => {
  log('S connection', s.isPaused(), s.readableFlowing);
  s.on('data', (d) => log('S data', q(d)));
  log('S after data listener', s.isPaused(), s.readableFlowing);
  s.on('end', () => log('S end'));
  s.on('close', (h) => log('S close', h));
  setTimeout(() => {
    log('S before resume', s.bytesRead, s.readableLength);
    s.resume();
  }, 200);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.end('test'));
  c.on('end', () => log('C end'));
  c.on('close', (h) => log('C close', h));
});
