'use strict';
// destroy() right after connect() (N07), with a write queued: destroyed at
// once, no longer connecting; the write's callback gets
// ERR_SOCKET_CLOSED_BEFORE_CONNECTION; no 'connect', no 'error';
// close(false). In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

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
