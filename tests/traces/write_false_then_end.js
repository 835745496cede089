'use strict';
// highWaterMark 4: a false write while connecting, then end(): no 'drain'
// comes once end() was called; the write's callback, the end callback and
// 'finish' do. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  let got = '';
  s.on('data', (d) => { got += d; });
  s.on('end', () => log('S got', q(got)));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect({ port: server.address().port, host: '127.0.0.1', highWaterMark: 4 });
  c.on('connect', () => log('C connect'));
  const r = c.write('hello world', (e) => log('C write cb', e ? fmtErr(e) : 'ok'));
  log('C write ->', r, c.writableNeedDrain);
  c.end((e) => log('C end cb', e ? fmtErr(e) : 'ok'));
  c.on('drain', () => log('C drain'));
  c.on('finish', () => log('C finish'));
  c.on('close', (h) => log('C close', h));
});
