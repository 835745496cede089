'use strict';
// readyState, pending and connecting through a half-open lifecycle (N65),
// allowHalfOpen on both sides: the client ends at 'connect'; the server
// ends after its 'end'. (A never-connected socket reads 'open', as Node.)
// Per actor.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const st = (s) => `${s.readyState} ${s.pending} ${s.connecting}`;
const fresh = new net.Socket();
log('F fresh', st(fresh));
fresh.destroy();
const server = net.createServer({ allowHalfOpen: true }, (s) => {
  log('S connection', st(s));
  s.on('end', () => {
    log('S in-end', st(s));
    s.end();
    log('S after-end', st(s));
  });
  s.on('close', () => log('S close', st(s)));
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const c = new net.Socket({ allowHalfOpen: true });
  c.connect(server.address().port, '127.0.0.1');
  log('C after connect()', st(c));
  c.on('connect', () => {
    log('C connect', st(c));
    c.end();
    log('C after-end', st(c));
  });
  c.on('data', () => {});
  c.on('end', () => log('C end', st(c)));
  c.on('close', () => log('C close', st(c)));
});
