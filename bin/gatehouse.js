#!/usr/bin/env node
// The `gatehouse` CLI runs the compiled JavaScript (dist/) with plain node. In a checkout it builds
// dist/ first when it is missing or older than the sources (progress on stderr, so `--json` output
// on stdout stays pure JSON); in an image built from the Dockerfile dist/ is already there.
import { ensureBuilt } from '../scripts/ensure-built.mjs';

if (ensureBuilt() !== 0) process.exit(1);
await import('../dist/src/cli/main.js');
