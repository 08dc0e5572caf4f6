import { constants, performance, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** V8's `gc()` without starting node with --expose-gc (the flag is set for the whole process). */
export function exposedGC(): (options?: { type: 'minor' | 'major' }) => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}

/**
 * Counts the garbage collections from now until `stop()`: major ones with their longest pause, and
 * scavenges with their time.
 */
export function watchGC() {
  const from = performance.now();
  const seen = { major: 0, majorLongestMs: 0, minor: 0, minorMs: 0 };
  const count = (entries: PerformanceEntry[]) => {
    for (const entry of entries) {
      if (entry.startTime < from) continue;
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        seen.major++;
        seen.majorLongestMs = Math.max(seen.majorLongestMs, entry.duration);
      } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        seen.minor++;
        seen.minorMs += entry.duration;
      }
    }
  };
  const observer = new PerformanceObserver((list) => count(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      count(observer.takeRecords()); // those not yet handed to the callback
      observer.disconnect();
      return seen;
    },
  };
}

/**
 * Whether AsyncLocalStorage rides on async context frames in this process: Node 24 on, unless
 * `--no-async-context-frame` turned them off. Node 20 and 22 carry its stores through
 * async_hooks instead.
 */
export function asyncContextFrames(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return Number(process.versions.node.split('.')[0]) >= 24 && !flags.includes('--no-async-context-frame');
}
