'use strict';
// P01 over a Unix socket path: the server writes 'hello' and ends; no
// addresses on either end. Compared per actor (C, S, SRV).
const net = require('net');
const os = require('os');
const path = require('path');
const { log, traceAll } = require('./trace');

const p = path.join(os.tmpdir(), `nodenet-trace-pipe-${process.pid}.sock`);
const server = net.createServer((s) => {
  traceAll('S', s);
  log('S remote', s.remoteAddress === undefined ? '-' : s.remoteAddress);
  s.end('hello');
  server.close();
});
server.on('close', () => log('SRV close'));
server.listen(p, () => {
  log('SRV listening');
  const c = net.connect(p);
  traceAll('C', c);
  c.on('connect', () => log('C remote', c.remotePort === undefined ? '-' : c.remotePort));
});
