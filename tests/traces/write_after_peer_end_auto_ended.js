'use strict';
// allowHalfOpen false: the server ends first and the client ends
// automatically; a write in the client's 'finish' fails with EPIPE "This
// socket has been ended by the other party", and so does one made once the
// socket is destroyed (in 'error'), rather than ERR_STREAM_DESTROYED
// (issue 10, item 9). Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  s.on('error', () => {});
  s.end();
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.resume();
  c.on('finish', () => {
    const r = c.write('f', (e) => log('C finish write cb', e ? fmtErr(e) : 'ok'));
    log('C finish write ->', r, c.destroyed);
  });
  c.once('error', () => {
    const r = c.write('g', (e) => log('C destroyed write cb', e ? fmtErr(e) : 'ok'));
    log('C destroyed write ->', r, c.destroyed);
  });
  traceAll('C', c);
});
