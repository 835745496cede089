'use strict';
// server.close() with two live connections (N58): listening stops at once
// and a new client is refused; the server's 'close' (then the close
// callback) comes once both connections are gone, before the last one's
// own 'close'. Server-side lines all start with S: compared per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const accepted = [];
let port;
const server = net.createServer((s) => {
  const tag = `S${accepted.length}`;
  accepted.push(s);
  s.on('end', () => log('S', tag, 'end'));
  s.on('close', (h) => {
    log('S', tag, 'close', h);
    if (tag === 'S0') accepted[1].end();
  });
  if (accepted.length === 1) {
    const c2 = net.connect(port, '127.0.0.1');
    traceAll('C2', c2);
  } else {
    closeServer();
  }
});
server.on('close', () => log('S server close'));
function closeServer() {
  const r = server.close((e) => log('S close cb', e ? fmtErr(e) : 'none'));
  log('S close returns itself', r === server, server.listening, JSON.stringify(server.address()));
  const c3 = net.connect(port, '127.0.0.1');
  c3.on('error', (e) => log('C3 error', fmtErr(e)));
  c3.on('close', (h) => {
    log('C3 close', h);
    accepted[0].destroy();
  });
}
server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  const c1 = net.connect(port, '127.0.0.1');
  traceAll('C1', c1);
});
