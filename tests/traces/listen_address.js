'use strict';
// listen(0, '127.0.0.1') and address() (N53): null before listening, the
// bound address in 'listening' (port chosen by the system), null again
// after close(). Not traced: address() right after the listen() call:
// Node resolves even an IP literal on a later tick (null, not listening),
// nodenet binds an IP literal at once (a documented difference). In order.
const net = require('net');
const { log, q, fmtErr, traceAll } = require('./trace');

const server = net.createServer();
log('S before', JSON.stringify(server.address()), server.listening);
server.on('listening', () => {
  const a = server.address();
  log('S listening', a.address, a.family, a.port > 0, server.listening);
  log('S close returns itself', server.close() === server);
  log('S after close', JSON.stringify(server.address()), server.listening);
});
server.on('close', () => log('S close'));
log('S listen returns itself', server.listen(0, '127.0.0.1') === server);
