'use strict';
// end() while connecting (N34): the data and the FIN wait for the
// connection; connect → finish → end → close; the server gets the data.
// Per actor.
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
  const c = net.connect(server.address().port, '127.0.0.1');
  c.resume();
  c.end('x');
  log('C after-end', c.readyState, c.writable, c.writableEnded, c.connecting);
  traceAll('C', c);
});
