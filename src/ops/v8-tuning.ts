import { setFlagsFromString } from 'node:v8';

/** The V8 flag a serving process runs with (`tuneV8ForServing`). */
export const SERVING_V8_FLAGS = ['--no-allocation-site-pretenuring'] as const;

/**
 * Turns off V8's allocation-site pretenuring for this process, before it serves.
 *
 * V8 watches where objects are allocated. When most objects from one place in the code survive a
 * minor GC, it starts allocating that place's objects straight in the old generation, where only
 * a major GC frees them; every young object such an old one points to then survives each minor GC
 * too, and is promoted in turn. The likely path here (not traced site by site): under a burst of
 * requests, many are in flight at each minor GC, a request's own objects pass that test, and from
 * then on each request's objects start out old although they die within a millisecond.
 *
 * Measured on Gatehouse at a steady half of its peak, Node 20 (docs/BENCHMARKS.md, twenty-fifth
 * session):
 *   - with pretenuring, each minor GC promoted about 80 KB;
 *   - in 2 processes of 12, after a burst, it promoted about 720 KB: every request,
 *     whole, for as long as it was measured, major GCs or not;
 *   - without pretenuring, about 30 KB, and the scavenges of the bench's p99 window took half
 *     the time.
 * The old generation fills that much more slowly, so major GCs, which give the latency its long
 * tail, come that much more rarely. On Node 24 the figures were the same with and without it. The
 * cost, not measured apart: objects that really are long-lived (caches, pooled connections) are
 * copied once more before they settle in the old generation.
 *
 * main.ts calls this first, so every way of starting the server (`npm start`, `npm run dev`, the
 * image, the chart, `node dist/src/main.js`) runs with it; the CLI's commands, which do not
 * serve, do not. The bench calls it too, so it measures the server as it runs. Node asks for care
 * with flags set at run time; this one takes effect set this way (the figures above were
 * measured so, and match those of `node --no-allocation-site-pretenuring`).
 */
export function tuneV8ForServing(): void {
  for (const flag of SERVING_V8_FLAGS) setFlagsFromString(flag);
}
