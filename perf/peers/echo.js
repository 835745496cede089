// A Node `net` echo server, written as Node programs write one: 'data'
// written back, pause() when write() returns false, resume() on 'drain'.
//
//   node echo.js [--host H] [--port P] [--path P] [--timeout S]
//
// Prints `listening on HOST:PORT` once listening (`listening on P` with
// `--path P`: a Unix socket instead of a port). `--timeout S` destroys
// connections idle for S seconds (socket.setTimeout).
'use strict';
const net = require('net');

const args = { host: '127.0.0.1', port: 7000, path: null, timeout: 0 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const flag = argv[i];
  const value = argv[i + 1];
  if (value === undefined) {
    console.error(`${flag} needs a value`);
    process.exit(2);
  }
  if (flag === '--host') args.host = value;
  else if (flag === '--port') args.port = Number(value);
  else if (flag === '--path') args.path = value;
  else if (flag === '--timeout') args.timeout = Number(value);
  else {
    console.error(`unknown argument ${flag}\nusage: node echo.js [--host H] [--port P] [--path P] [--timeout S]`);
    process.exit(2);
  }
}

const server = net.createServer((socket) => {
  if (args.timeout > 0) {
    socket.setTimeout(args.timeout * 1000, () => socket.destroy());
  }
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  // A client that resets hurts only its own connection.
  socket.on('error', () => {});
});

if (args.path !== null) {
  server.listen(args.path, () => {
    process.stdout.write(`listening on ${args.path}\n`);
  });
} else {
  server.listen(args.port, args.host, () => {
    process.stdout.write(`listening on ${args.host}:${server.address().port}\n`);
  });
}
