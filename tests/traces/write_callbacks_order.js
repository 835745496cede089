'use strict';
// Write callbacks run in write order: one write queued while connecting,
// two in the connect listener, then end(data, cb); the end callback runs
// before 'finish'. Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  let got = '';
  s.on('data', (d) => { got += d; });
  s.on('end', () => log('S got', q(got)));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    log('C connect', c.writableLength);
    log('C write b ->', c.write('b', () => log('C cb b')));
    log('C write c ->', c.write('c', () => log('C cb c')));
    c.end('d', () => log('C cb end'));
    log('C after-end', c.writableLength, c.bytesWritten);
  });
  log('C write a ->', c.write('a', () => log('C cb a')), c.writableLength);
  // Not traced: 'ready'. Node flushes writes queued while connecting from
  // an internal 'connect' listener added by the first write, so some of
  // their callbacks run before 'ready'; nodenet emits 'connect' and 'ready',
  // then flushes (a Node quirk not copied).
  c.on('finish', () => log('C finish', c.writableLength));
  c.on('close', (h) => log('C close', h, c.bytesWritten));
});
