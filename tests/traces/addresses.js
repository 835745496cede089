'use strict';
// Addresses (N64): while connecting none; once connected both ends agree
// (remote/local address, family, ports); in 'close' the remote address is
// still readable. Per actor.
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

let clientLocalPort;
let port;
const server = net.createServer((s) => {
  log('S connection', s.remoteAddress, s.remoteFamily, s.localAddress, s.localFamily,
    s.localPort === port, typeof s.remotePort, s.server === server);
  s.on('close', () => log('S close', s.remoteAddress, s.remotePort === clientLocalPort));
  s.end();
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  const c = net.connect(port, '127.0.0.1');
  log('C connecting', String(c.remoteAddress), String(c.remotePort), String(c.localAddress),
    String(c.localPort));
  c.on('connect', () => {
    clientLocalPort = c.localPort;
    log('C connect', c.remoteAddress, c.remoteFamily, c.remotePort === port,
      c.localAddress, c.localFamily, typeof c.localPort, c.address().port === c.localPort);
  });
  c.resume();
  c.on('close', () => log('C close', c.remoteAddress, c.remotePort === port));
});
