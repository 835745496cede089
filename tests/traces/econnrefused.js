'use strict';
// ECONNREFUSED (N13): connecting to a port nobody listens on (a server's,
// once closed): 'error' with code, syscall, errno and message; in it the
// socket is destroyed and no longer connecting; then close(true). In order.
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
  const port = server.address().port;
  server.close(() => {
    const c = net.connect(port, '127.0.0.1');
    log('C connecting', c.connecting, c.readyState);
    c.on('connect', () => log('C connect'));
    c.on('error', (e) => {
      log('C error', fmtErr(e), e.address, e.port === port);
      log('C in-error', c.connecting, c.destroyed, c.readyState);
    });
    c.on('close', (h) => log('C close', h));
  });
});
