'use strict';
// destroySoon() (N38): after write(1 MB), destroySoon() ends our side
// (writableEnded, not destroyed); everything is sent, then 'finish', then
// the socket is destroyed: close(false). The peer gets all the bytes, then
// 'end'. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const SIZE = 1000000;
const server = net.createServer((s) => {
  let total = 0;
  s.on('data', (d) => { total += d.length; });
  s.on('end', () => log('S end', total));
  s.on('close', (h) => log('S close', h));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    c.write(Buffer.alloc(SIZE, 122), () => log('C write cb'));
    c.destroySoon();
    log('C after destroySoon', c.writableEnded, c.destroyed);
  });
  c.on('finish', () => log('C finish', c.destroyed));
  c.on('close', (h) => log('C close', h, c.destroyed));
});
