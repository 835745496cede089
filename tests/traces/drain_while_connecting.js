'use strict';
// highWaterMark 4 (set explicitly: Node 20's default is 16 KiB, nodenet's
// 64 KiB). An 11-byte write while connecting returns false; one 'drain'
// follows once connected, before the write's callback; a small write after
// 'drain' returns true. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer({ highWaterMark: 4 }, (s) => {
  let got = '';
  s.on('data', (d) => { got += d; });
  s.on('end', () => {
    log('S got', q(got));
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect({ port: server.address().port, host: '127.0.0.1', highWaterMark: 4 });
  c.on('connect', () => log('C connect'));
  const r = c.write('hello world', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
  log('C write ->', r, c.writableLength, c.writableNeedDrain);
  c.on('drain', () => {
    log('C drain', c.writableLength, c.writableNeedDrain);
    log('C write ->', c.write('ab'), c.writableLength);
    c.end();
  });
  // Not traced: 'ready', and 'connect' listeners added after the write.
  // Node flushes writes queued while connecting from an internal 'connect'
  // listener added by the first write, so their 'drain' and callbacks come
  // before those; nodenet emits 'connect' and 'ready', then flushes (a Node
  // quirk not copied).
  c.on('finish', () => log('C finish'));
  c.on('close', (h) => log('C close', h));
});
