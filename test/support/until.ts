import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `check` every `everyMs` until it holds (true) or `ms` pass (false); a check that throws counts as not yet. */
export async function until(check: () => Promise<boolean>, ms: number, everyMs = 200) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true;
    await sleep(everyMs);
  }
  return false;
}
