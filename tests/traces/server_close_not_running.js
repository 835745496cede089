'use strict';
// close() on a server that is not listening (N59): 'close' is still
// emitted, and the callback (a 'close' listener) gets
// ERR_SERVER_NOT_RUNNING. Then a listening server closed twice: the first
// callback gets nothing, the second ERR_SERVER_NOT_RUNNING. In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const idle = net.createServer();
idle.on('close', () => log('S1 close event'));
idle.close((e) => {
  log('S1 close cb', e ? fmtErr(e) : 'none');
  const s2 = net.createServer();
  s2.listen(0, '127.0.0.1', () => {
    s2.close((e2) => log('S2 close cb 1', e2 ? fmtErr(e2) : 'none'));
    s2.close((e2) => log('S2 close cb 2', e2 ? fmtErr(e2) : 'none'));
  });
  // once: Node 20 emits 'close' once per close() call here, nodenet once
  // in all (a documented difference).
  s2.once('close', () => log('S2 close event'));
});
log('S1 close returned');
