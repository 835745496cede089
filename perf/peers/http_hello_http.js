// "Hello, World!" with Node's `http` module, as its documentation writes a
// server: the same status, Content-Type, Content-Length and body as
// examples/http_hello (Node adds its own Date, Connection and Keep-Alive
// headers; keep-alive and pipelining are Node's).
//
//   node http_hello_http.js [--host H] [--port P] [--path P]
//
// Prints `listening on HOST:PORT` once listening (`listening on P` with
// `--path P`, a Unix socket).
'use strict';
const http = require('http');

const args = { host: '127.0.0.1', port: 8080, path: null };
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
  else {
    console.error(`unknown argument ${flag}\nusage: node http_hello_http.js [--host H] [--port P] [--path P]`);
    process.exit(2);
  }
}

const BODY = 'Hello, World!';

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
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
