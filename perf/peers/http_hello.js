// "Hello, World!" over HTTP/1.1 with Node's `net`, written as a Node user
// would port examples/http_hello.rs: a 'data' listener that appends to the
// connection's unparsed bytes, a request-head parser, and one
// `socket.write()` per response. Same status line, headers and body as
// examples/http_hello.
//
//   node http_hello.js [--host H] [--port P] [--path P]
//
// Prints `listening on HOST:PORT` once listening (`listening on P` with
// `--path P`, a Unix socket). Keep-alive (HTTP/1.1 by default, HTTP/1.0
// with `Connection: keep-alive`), pipelining (every request complete in
// the received bytes is answered, in order), `Content-Length` request
// bodies read and discarded, HEAD. A malformed head, a head over 16 KiB or
// a `Transfer-Encoding` body (not supported here) get 400 and the
// connection is ended. Connections idle for 5 s are destroyed.
'use strict';
const net = require('net');

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
    console.error(`unknown argument ${flag}\nusage: node http_hello.js [--host H] [--port P] [--path P]`);
    process.exit(2);
  }
}

const BODY = 'Hello, World!';
const MAX_HEAD = 16 * 1024;
const TIMEOUT_MS = 5000;

class BadRequest extends Error {}

// Parses the request head ending at `end` (the index of its "\r\n\r\n"):
// { keepAlive, headOnly, bodyLength }.
function parseHead(buf, pos, end) {
  const lines = buf.toString('latin1', pos, end).split('\r\n');
  const requestLine = lines[0].split(' ');
  if (requestLine.length !== 3 || requestLine[0] === '' || requestLine[1] === '') {
    throw new BadRequest('malformed request line');
  }
  const [method, , version] = requestLine;
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') throw new BadRequest('unsupported HTTP version');
  const http11 = version === 'HTTP/1.1';
  let hosts = 0;
  let bodyLength = 0;
  let close = false;
  let keepAlive = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) throw new BadRequest("header without ':'");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'host') hosts++;
    else if (name === 'content-length') {
      if (!/^[0-9]{1,15}$/.test(value)) throw new BadRequest('bad Content-Length');
      bodyLength = Number(value);
    } else if (name === 'transfer-encoding') {
      throw new BadRequest('Transfer-Encoding not supported');
    } else if (name === 'connection') {
      const tokens = value.toLowerCase().split(',').map((t) => t.trim());
      if (tokens.includes('close')) close = true;
      if (tokens.includes('keep-alive')) keepAlive = true;
    }
  }
  if (http11 && hosts !== 1) throw new BadRequest(hosts === 0 ? 'no Host' : 'two Hosts');
  return { keepAlive: !close && (http11 || keepAlive), headOnly: method === 'HEAD', bodyLength };
}

function response(request, date) {
  const connection = request.keepAlive ? 'keep-alive' : 'close';
  const head =
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n' +
    `Content-Length: ${BODY.length}\r\nDate: ${date}\r\nConnection: ${connection}\r\n\r\n`;
  return request.headOnly ? head : head + BODY;
}

function refusal(why, date) {
  return (
    'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n' +
    `Content-Length: ${why.length + 1}\r\nDate: ${date}\r\nConnection: close\r\n\r\n${why}\n`
  );
}

const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.setNoDelay(true);
  socket.setTimeout(TIMEOUT_MS, () => socket.destroy());
  let pending = null;
  let bodyLeft = 0; // bytes of the current request's body still to discard
  let closing = false;
  socket.on('data', (chunk) => {
    if (closing) return;
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let pos = 0;
    let more = true;
    const date = new Date().toUTCString();
    while (pos < buf.length) {
      if (bodyLeft > 0) {
        const take = Math.min(bodyLeft, buf.length - pos);
        bodyLeft -= take;
        pos += take;
        continue;
      }
      // Empty lines before a request line are ignored.
      if (buf[pos] === 0x0d && buf[pos + 1] === 0x0a) {
        pos += 2;
        continue;
      }
      const end = buf.indexOf('\r\n\r\n', pos);
      if (end === -1) {
        if (buf.length - pos > MAX_HEAD) {
          socket.end(refusal('request head too large', date));
          closing = true;
        }
        break;
      }
      let request;
      try {
        request = parseHead(buf, pos, end);
      } catch (err) {
        if (!(err instanceof BadRequest)) throw err;
        socket.end(refusal(err.message, date));
        closing = true;
        break;
      }
      pos = end + 4;
      bodyLeft = request.bodyLength;
      if (!request.keepAlive) {
        socket.end(response(request, date));
        closing = true;
        break;
      }
      more = socket.write(response(request, date));
    }
    pending = !closing && pos < buf.length ? buf.subarray(pos) : null;
    if (!more) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  // The client is done sending: finish once everything is answered.
  socket.on('end', () => socket.end());
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
