'use strict';
// Shared by the trace scenarios: one line per event, normalised (no ports,
// no timestamps), in the same format the Rust side prints.

const log = (...a) => console.log(a.join(' '));
const q = (v) => JSON.stringify(String(v));
const fmtErr = (e) =>
  `${e.code} ${e.syscall ?? '-'} ${e.errno ?? '-'} ${q(e.message.replace(/:\d+/g, ':PORT'))}`;

// Logs every event of a socket as `<tag> <event> [args]`.
function traceAll(tag, s) {
  for (const ev of ['connect', 'ready', 'end', 'finish', 'drain', 'timeout']) {
    s.on(ev, () => log(tag, ev));
  }
  s.on('data', (d) => log(tag, 'data', q(d)));
  s.on('error', (e) => log(tag, 'error', fmtErr(e)));
  s.on('close', (hadError) => log(tag, 'close', hadError));
}

module.exports = { log, q, fmtErr, traceAll };
