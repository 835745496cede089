'use strict';
// A socket that never connected (N08): destroy() returns it, 'close' comes
// once on a later tick; write() on such a socket fails with
// ERR_SOCKET_CLOSED. Node passes hadError undefined to that 'close', and
// nodenet false (bool has no undefined, a documented difference): printed
// as !!hadError. In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const a = new net.Socket();
a.on('close', (h) => log('A close', !!h));
log('A destroy returns itself', a.destroy() === a, a.destroyed);
const b = new net.Socket();
b.on('error', (e) => log('B error', fmtErr(e)));
b.on('close', (h) => log('B close', !!h));
log('B write ->', b.write('x', (e) => log('B write cb', e ? fmtErr(e) : 'ok')), b.destroyed);
log('sync done');
