// A Node `tls` echo server, written as Node programs write one: 'data'
// written back, pause() when write() returns false, resume() on 'drain'.
//
//   node tls_echo.js --cert FILE --key FILE [--host H] [--port P] [--path P] [--timeout S]
//
// `--cert` is a PEM certificate chain, `--key` its PEM private key; Node's
// defaults otherwise (TLS 1.2 and 1.3, session tickets on). Prints
// `listening on HOST:PORT` once listening (`listening on P` with `--path P`:
// a Unix socket instead of a port). `--timeout S` destroys connections idle
// for S seconds (socket.setTimeout).
'use strict';
const fs = require('fs');
const tls = require('tls');

const usage =
  'usage: node tls_echo.js --cert FILE --key FILE [--host H] [--port P] [--path P] [--timeout S]';
const args = { host: '127.0.0.1', port: 7000, path: null, timeout: 0, cert: null, key: null };
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
  else if (flag === '--cert') args.cert = value;
  else if (flag === '--key') args.key = value;
  else {
    console.error(`unknown argument ${flag}\n${usage}`);
    process.exit(2);
  }
}
if (args.cert === null || args.key === null) {
  console.error(`--cert and --key are required\n${usage}`);
  process.exit(2);
}

const options = { cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) };
const server = tls.createServer(options, (socket) => {
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
// A client that resets during the handshake, likewise.
server.on('tlsClientError', () => {});

if (args.path !== null) {
  server.listen(args.path, () => {
    process.stdout.write(`listening on ${args.path}\n`);
  });
} else {
  server.listen(args.port, args.host, () => {
    process.stdout.write(`listening on ${args.host}:${server.address().port}\n`);
  });
}
