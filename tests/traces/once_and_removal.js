'use strict';
// once() and removal during emit (N72, snapshot emit) on a socket's 'data'
// with several listeners: L1 is once; L2 removes L3 during the first emit
// (L3 still runs for it, not after); L4 adds L5 during the first emit (L5
// runs from the second on); L0 is prepended. Two chunks, sequenced by an
// ack. In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  s.write('one');
  s.once('data', () => s.end('two'));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  let first = true;
  const l3 = (d) => log('C L3', q(d));
  const l5 = (d) => log('C L5', q(d));
  c.once('data', (d) => log('C L1 once', q(d)));
  c.on('data', (d) => {
    log('C L2', q(d));
    if (first) c.removeListener('data', l3);
  });
  c.on('data', l3);
  c.on('data', (d) => {
    log('C L4', q(d));
    if (first) {
      c.on('data', l5);
      first = false;
      log('C count', c.listenerCount('data'));
      c.write('ack');
    }
  });
  c.prependListener('data', (d) => log('C L0', q(d)));
  c.on('end', () => log('C end', c.listenerCount('data')));
  c.on('close', (h) => log('C close', h));
});
