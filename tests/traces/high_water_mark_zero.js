'use strict';
// highWaterMark 0 (N28): while connecting, write() returns false and counts
// the UTF-8 bytes at once; one 'drain' follows the connection; once
// connected, a small write the kernel takes whole returns true and brings
// no 'drain'. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { got += d; });
  s.on('end', () => log('S got', q(got)));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect({ port: server.address().port, host: '127.0.0.1', highWaterMark: 0 });
  c.on('connect', () => log('C connect', c.pending, c.connecting, c.readyState));
  log('C connecting', c.pending, c.connecting, c.readyState);
  const r = c.write("L'État, c'est ", (e) => log('C write cb 1', e ? fmtErr(e) : 'ok', c.bytesWritten));
  log('C write ->', r, c.bytesWritten, c.writableNeedDrain);
  let drains = 0;
  c.on('drain', () => {
    log('C drain', ++drains);
    if (drains > 1) return;
    const r2 = c.write('moi', (e) => {
      log('C write cb 2', e ? fmtErr(e) : 'ok', c.bytesWritten);
      c.end();
    });
    log('C write ->', r2, c.bytesWritten, c.writableNeedDrain);
  });
  c.on('finish', () => log('C finish'));
  c.on('close', (h) => log('C close', h, c.pending));
});
