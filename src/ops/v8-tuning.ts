import { setFlagsFromString } from 'node:v8';

/** The V8 flag a serving process runs with (`tuneV8ForServing`). */
export const SERVING_V8_FLAGS = ['--no-allocation-site-pretenuring'] as const;

/**
 * Turns off V8's allocation-site pretenuring for this process, before it serves.
 *
 * V8 watches where objects are allocated. When most objects from one place in the code survive a
 * minor GC, it starts allocating that place's objects straight in the old generation. Under a
 * burst of requests, a request's own objects can pass that test: many requests are in flight
 * at each minor GC. From then on, each request's context, headers and answer objects start out
 * old, although they die within a millisecond. Only a major GC frees old objects. Until one
 * runs, every young object such an old one points to also survives each minor GC, and is
 * promoted in turn.
 *
 * Measured on Gatehouse at a steady half of its peak (docs/BENCHMARKS.md, twenty-fifth session):
 *   - with pretenuring, each minor GC promoted about 80 KB;
 *   - in about one process in five, after a burst, it promoted about 720 KB: every request,
 *     whole, until the process ended;
 *   - without pretenuring, about 30 KB.
 * The old generation fills that much more slowly, so major GCs, which give the latency its long
 * tail, come that much more rarely. The price is one more copy of each object that really is
 * long-lived (caches, pooled connections), made once.
 *
 * main.ts calls this first, so every way of starting the server (`npm start`, the image, the
 * chart, `node dist/src/main.js`) runs with it. The bench calls it too, so it measures the
 * server as it runs. Node asks for care with flags set at run time. This one does take effect
 * when set this way: the promotion figures above were measured with it set this way, and match
 * those of `node --no-allocation-site-pretenuring`.
 */
export function tuneV8ForServing(): void {
  for (const flag of SERVING_V8_FLAGS) setFlagsFromString(flag);
}
