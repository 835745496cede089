'use strict';
// process.nextTick callbacks run after each callback from the loop: a tick
// queued in 'connect' runs after 'ready' (both are emitted by one callback)
// and, with a write's callback, before the first 'data';
// a tick queued in 'data' runs before the next chunk's 'data' (1 MiB read in
// several chunks). Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  s.end(Buffer.alloc(1 << 20, 97));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    log('C connect');
    process.nextTick(() => log('C tick after connect'));
    c.write('x', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
  });
  c.on('ready', () => log('C ready'));
  let chunks = 0;
  let pending = 0;
  let overlapped = 0;
  c.on('data', (d) => {
    if (chunks++ === 0) log('C first data');
    if (pending > 0) overlapped++;
    pending++;
    process.nextTick(() => { pending--; });
  });
  c.on('end', () => log('C end', chunks > 1, overlapped));
  c.on('close', (h) => log('C close', h));
});
