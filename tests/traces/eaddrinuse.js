'use strict';
// EADDRINUSE (N54): a second server listens on the first one's port:
// 'error' on a later tick, not listening, no 'close'; its listen callback
// stays registered, so after listen(0) succeeds both callbacks run. In
// order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

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
