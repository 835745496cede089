'use strict';
// Connecting to a missing path (ENOENT) and to a regular file nobody
// listens on (ECONNREFUSED): 'error' then 'close'(true). The path in the
// message is printed as PATH. Compared per actor.
const net = require('net');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { log, q } = require('./trace');

const missing = path.join(os.tmpdir(), `nodenet-trace-missing-${process.pid}.sock`);
const file = path.join(os.tmpdir(), `nodenet-trace-file-${process.pid}`);
fs.writeFileSync(file, 'x');
for (const [tag, p] of [['M', missing], ['F', file]]) {
  const c = net.connect(p);
  c.on('connect', () => log(tag, 'connect'));
  c.on('error', (e) =>
    log(tag, 'error', e.code, e.syscall, e.errno, q(e.message.replace(p, 'PATH'))));
  c.on('close', (h) => {
    log(tag, 'close', h);
    if (tag === 'F') fs.unlinkSync(file);
  });
}
