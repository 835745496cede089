'use strict';
// The server writes 'hello' and ends at once; the client sees the whole
// lifecycle (N01). Compared per actor (C, S, SRV).
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer((s) => {
  traceAll('S', s);
  s.end('hello');
  server.close();
});
server.on('close', () => log('SRV close'));
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1');
  traceAll('C', c);
});
