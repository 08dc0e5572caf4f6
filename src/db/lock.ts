import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from './data-dir.js';

/** The embedded database belongs to one process; a pid file says which. */
export function dataDirHolder(dataDir: string): number | undefined {
  const file = path.join(dataDir, 'server.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined; // stale file from a process that is gone
  }
}

export function holdDataDir(dataDir: string) {
  const holder = dataDirHolder(dataDir);
  if (holder) throw new Error(`the embedded database in ${dataDir} is in use by process ${holder}`);
  ensurePrivateDir(dataDir);
  const file = path.join(dataDir, 'server.pid');
  writeFileSync(file, String(process.pid));
  process.on('exit', () => rmSync(file, { force: true }));
}
