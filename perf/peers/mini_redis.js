// A small Redis over Node's `net`, written as a Node user would write it: a
// 'data' listener that appends to the connection's unparsed bytes, a RESP
// parser (arrays of bulk strings, and the inline form `PING\r\n` that
// redis-benchmark sends), and one `socket.write()` per reply.
//
//   node mini_redis.js [--host H] [--port P] [--path P]
//
// Prints `listening on HOST:PORT` once listening (`listening on P` with
// `--path P`, a Unix socket). Commands: PING, ECHO, SET key value, GET, DEL,
// CONFIG GET (the few parameters redis-benchmark asks for), COMMAND (an
// empty list; COMMAND COUNT). A protocol error gets `-ERR Protocol error`
// and the connection is ended, as Redis does.
'use strict';
const net = require('net');

const args = { host: '127.0.0.1', port: 6379, path: null };
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
    console.error(`unknown argument ${flag}\nusage: node mini_redis.js [--host H] [--port P] [--path P]`);
    process.exit(2);
  }
}

const MAX_BULK = 512 * 1024 * 1024;
const MAX_INLINE = 64 * 1024;
const CONFIG = [['save', ''], ['appendonly', 'no'], ['databases', '1'], ['maxmemory', '0']];

// Keys are latin1 strings (one char per byte: binary safe), values Buffers.
const db = new Map();

class ProtocolError extends Error {}

// Parses one request at `pos` of `buf`: { args: [Buffer], next } or null
// when the request is not complete yet.
function parseRequest(buf, pos) {
  if (buf[pos] !== 0x2a /* '*' */) return parseInline(buf, pos);
  const nl = buf.indexOf('\r\n', pos);
  if (nl === -1) {
    if (buf.length - pos > MAX_INLINE) throw new ProtocolError('too big mbulk count string');
    return null;
  }
  const count = Number(buf.toString('latin1', pos + 1, nl));
  if (!Number.isInteger(count) || count > 1024 * 1024) throw new ProtocolError('invalid multibulk length');
  let at = nl + 2;
  const out = [];
  for (let i = 0; i < count; i++) {
    if (at >= buf.length) return null;
    if (buf[at] !== 0x24 /* '$' */) {
      throw new ProtocolError(`expected '$', got '${String.fromCharCode(buf[at])}'`);
    }
    const end = buf.indexOf('\r\n', at);
    if (end === -1) {
      if (buf.length - at > MAX_INLINE) throw new ProtocolError('too big bulk count string');
      return null;
    }
    const len = Number(buf.toString('latin1', at + 1, end));
    if (!Number.isInteger(len) || len < 0 || len > MAX_BULK) throw new ProtocolError('invalid bulk length');
    const start = end + 2;
    if (buf.length < start + len + 2) return null;
    out.push(buf.subarray(start, start + len));
    at = start + len + 2;
  }
  return { args: out, next: at };
}

function parseInline(buf, pos) {
  const nl = buf.indexOf('\n', pos);
  if (nl === -1) {
    if (buf.length - pos > MAX_INLINE) throw new ProtocolError('too big inline request');
    return null;
  }
  const line = buf.toString('latin1', pos, buf[nl - 1] === 0x0d ? nl - 1 : nl);
  const words = line.split(' ').filter((w) => w.length > 0);
  return { args: words.map((w) => Buffer.from(w, 'latin1')), next: nl + 1 };
}

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NULL = Buffer.from('$-1\r\n');
const CRLF = Buffer.from('\r\n');

function bulk(value) {
  return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, CRLF]);
}

function wrongArity(name) {
  return `-ERR wrong number of arguments for '${name.toLowerCase()}' command\r\n`;
}

// The reply to one command (a string or a Buffer).
function execute(argv) {
  const name = argv[0].toString('latin1').toUpperCase();
  const n = argv.length;
  switch (name) {
    case 'PING':
      if (n === 1) return PONG;
      if (n === 2) return bulk(argv[1]);
      return wrongArity(name);
    case 'ECHO':
      return n === 2 ? bulk(argv[1]) : wrongArity(name);
    case 'SET':
      if (n !== 3) return n < 3 ? wrongArity(name) : '-ERR syntax error\r\n';
      // Copied: the request's bytes belong to the read chunk.
      db.set(argv[1].toString('latin1'), Buffer.from(argv[2]));
      return OK;
    case 'GET': {
      if (n !== 2) return wrongArity(name);
      const value = db.get(argv[1].toString('latin1'));
      return value === undefined ? NULL : bulk(value);
    }
    case 'DEL': {
      if (n < 2) return wrongArity(name);
      let removed = 0;
      for (let i = 1; i < n; i++) if (db.delete(argv[i].toString('latin1'))) removed++;
      return `:${removed}\r\n`;
    }
    case 'CONFIG': {
      if (n < 3 || argv[1].toString('latin1').toUpperCase() !== 'GET') {
        return '-ERR CONFIG subcommand not supported (only GET)\r\n';
      }
      const found = [];
      for (let i = 2; i < n; i++) {
        const pattern = argv[i].toString('latin1').toLowerCase();
        for (const [key, value] of CONFIG) {
          if ((pattern === '*' || pattern === key) && !found.some(([k]) => k === key)) {
            found.push([key, value]);
          }
        }
      }
      let reply = `*${found.length * 2}\r\n`;
      for (const [key, value] of found) reply += `$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`;
      return reply;
    }
    case 'COMMAND':
      if (n >= 2 && argv[1].toString('latin1').toUpperCase() === 'COUNT') return ':7\r\n';
      return '*0\r\n';
    default:
      return `-ERR unknown command '${argv[0].toString('latin1')}'\r\n`;
  }
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let pending = null;
  socket.on('data', (chunk) => {
    const buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let pos = 0;
    let more = true;
    while (pos < buf.length) {
      let request;
      try {
        request = parseRequest(buf, pos);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        socket.end(`-ERR Protocol error: ${err.message}\r\n`);
        pending = null;
        return;
      }
      if (request === null) break;
      pos = request.next;
      if (request.args.length === 0) continue; // an empty inline line
      more = socket.write(execute(request.args));
    }
    pending = pos < buf.length ? buf.subarray(pos) : null;
    if (!more) socket.pause();
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
