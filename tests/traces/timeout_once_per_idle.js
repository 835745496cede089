'use strict';
// An idle timeout only notifies (N48): 'timeout' once per idle period, the
// socket stays open; activity (a write) starts a new period and brings a
// second 'timeout'; then the listener ends the socket. (1000 ms: nodenet's
// timeouts are whole seconds.) Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  s.on('data', (d) => log('S data', q(d)));
  s.on('end', () => log('S end'));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.setTimeout(1000));
  let n = 0;
  c.on('timeout', () => {
    n++;
    log('C timeout', n, c.destroyed, c.readyState);
    if (n === 1) c.write('still here');
    else c.end();
  });
  c.on('close', (h) => log('C close', h));
});
