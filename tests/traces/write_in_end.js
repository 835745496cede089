'use strict';
// Default allowHalfOpen=false: the server ends at once; the client writes
// inside 'end' and that still works; the automatic end() follows (N22).
// Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  s.end();
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  c.on('end', () => {
    log('C in-end', c.allowHalfOpen, c.writable, c.writableEnded, c.destroyed);
    const r = c.write('written-in-end', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
    log('C write ->', r);
  });
  traceAll('C', c);
});
