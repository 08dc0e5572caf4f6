'use strict';
// One bcrypt job on a hashing thread of security/hash-pool.ts (run by piscina). Plain CommonJS,
// not TypeScript: the same file runs under tsx and jest (worker threads get no loader) and from
// the compiled dist/ (the build copies it beside hash-pool.js).
const { parentPort, threadId } = require('node:worker_threads');
const bcrypt = require('bcrypt');

// bcrypt's native module is loaded: from now on the thread may be terminated. Terminated while
// loading it, the whole process aborts ("terminate called after throwing an instance of
// 'Napi::Error'"), so the pool waits for this before it closes (piscina passes the message on).
parentPort?.postMessage({ hashThreadLoaded: threadId });

module.exports = function hashJob(job) {
  if (job.op === 'hash') return bcrypt.hashSync(job.password, job.cost);
  if (job.op === 'compare') return bcrypt.compareSync(job.password, job.hash);
  throw new TypeError(`unknown hash job: ${String(job.op)}`);
};
