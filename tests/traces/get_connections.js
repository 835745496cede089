'use strict';
// getConnections() (N60): its callback comes on a later tick, before the
// next accept, with the count at the call; clients connect one after the
// other, then leave one at a time. Per actor (the server's lines, S, in
// order).
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const clients = [];
let port;
function connectNext() {
  const tag = `C${clients.length + 1}`;
  const c = net.connect(port, '127.0.0.1');
  clients.push(c);
  c.on('end', () => log(tag, 'end'));
  c.on('close', (h) => log(tag, 'close', h));
}
let n = 0;
const server = net.createServer((s) => {
  const k = ++n;
  log('S connection', k);
  let sync = true;
  server.getConnections((err, count) => log('S count', count, 'async', !sync, String(err)));
  sync = false;
  s.on('close', () => {
    log('S close', k);
    server.getConnections((err, count) => {
      log('S count after close', count);
      if (count === 2) {
        server.close(() => log('S server close'));
        clients[1].end();
      } else if (count === 1) {
        clients[2].end();
      }
    });
  });
  if (k < 3) connectNext();
  else clients[0].destroy();
});
server.listen(0, '127.0.0.1', () => {
  port = server.address().port;
  connectNext();
});
