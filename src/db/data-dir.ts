import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Makes a folder of the embedded data (database files, master key) private to its owner: created
 * 0700, and an existing one tightened to 0700. PGlite writes its files 0666, so the closed folder
 * is what keeps other local users out of them. chmod sets the mode exactly (mkdir's is masked by
 * the umask); parents are made as usual.
 */
export function ensurePrivateDir(dir: string) {
  mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((statSync(dir).mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}
