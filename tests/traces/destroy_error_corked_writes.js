'use strict';
// destroy(err) with writes held by cork(): their callbacks get err itself,
// in order, then 'error', then close(true) (issue 10, item 7; after
// destroy() without an error they get ERR_STREAM_DESTROYED). In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  s.on('error', () => {});
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => {
    c.cork();
    c.write('x', (e) => log('C cb x', e ? fmtErr(e) : 'ok'));
    c.write('y', (e) => log('C cb y', e ? fmtErr(e) : 'ok'));
    const err = new Error('boom');
    err.code = 'ECONNABORTED';
    c.destroy(err);
    log('C destroyed');
  });
  c.on('error', (e) => log('C error', fmtErr(e)));
  c.on('close', (h) => log('C close', h));
});
