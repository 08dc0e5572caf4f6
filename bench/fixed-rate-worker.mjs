// An open-loop load generator on a thread of its own (bench/harness.ts, `fixedRateFromThread`):
// POSTs one request every 1/rate seconds, whatever the earlier ones are doing, and reports each
// latency counted from when the request was due. On its own thread it has its own event loop and
// its own V8 heap: its garbage and its stalls are not the server's, as for any outside client.
// Plain JavaScript: Node 20 runs no loader hooks (tsx) on a worker thread.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

const { url, headers, body, rate, seconds, warmUpSeconds, maxSockets, expect, maxFailures } = workerData;
const target = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets });
const options = { host: target.hostname, port: Number(target.port), path: target.pathname + target.search, method: 'POST', agent, headers };

/** One request; resolves when its whole answer is in and is what `expect` asks for. */
function send() {
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          const answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (res.statusCode !== expect.status) throw new Error(`answered ${res.statusCode} ${answer.error ?? ''}`.trim());
          for (const [field, value] of Object.entries(expect.fields)) {
            if (answer[field] !== value) throw new Error(`unexpected ${field}: ${answer[field]}`);
          }
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const latencies = [];
let failed = 0;
let firstError;
const interval = 1000 / rate;
const started = performance.now();
const windowStart = started + warmUpSeconds * 1000;
const windowEnd = windowStart + seconds * 1000;
const inFlight = new Set();
let measuring = false;
for (let n = 0; ; n++) {
  const due = started + n * interval;
  if (due >= windowEnd || failed >= maxFailures) break;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  const counted = due >= windowStart;
  // The server's side of the measured window starts with its first measured request.
  if (counted && !measuring) {
    measuring = true;
    parentPort.postMessage({ kind: 'window-start' });
  }
  const run = send().then(
    () => {
      if (counted) latencies.push(performance.now() - due);
    },
    (err) => {
      failed++;
      firstError ??= err instanceof Error ? err.message : String(err);
    },
  );
  inFlight.add(run);
  void run.finally(() => inFlight.delete(run));
}
parentPort.postMessage({ kind: 'window-end' });
await Promise.all(inFlight);
agent.destroy();
parentPort.postMessage({ kind: 'done', latencies, failed, firstError });
