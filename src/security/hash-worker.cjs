'use strict';
// One bcrypt job on a hashing thread of security/hash-pool.ts (run by piscina). Plain CommonJS,
// not TypeScript: the same file runs under tsx and jest (worker threads get no loader) and from
// the compiled dist/ (the build copies it beside hash-pool.js).
const bcrypt = require('bcrypt');

module.exports = function hashJob(job) {
  if (job.op === 'hash') return bcrypt.hashSync(job.password, job.cost);
  if (job.op === 'compare') return bcrypt.compareSync(job.password, job.hash);
  throw new TypeError(`unknown hash job: ${String(job.op)}`);
};
