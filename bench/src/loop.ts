import { quantile } from "./stats.js";

export interface LoopOptions {
  /** Requests in flight at every moment (closed loop: a worker sends its next request on a reply). */
  concurrency: number;
  /** Stop starting requests after this long. */
  durationMs: number;
  /** …or after this many requests, whichever comes first (keeps every loop bounded). */
  maxOps: number;
  /**
   * One unit of work; `i` counts from 0 across all workers. Returns how many requests the unit
   * stands for (a burst of duplicates is one unit of several requests), default 1.
   */
  op: (i: number) => Promise<number | undefined>;
}

export interface LoopResult {
  requests: number;
  errors: number;
  elapsedMs: number;
  /** Requests per second. */
  throughput: number;
  /**
   * This process' CPU time (user + system, all its threads) per request, µs: the library's and its
   * store client's cost on the Node side, which a shared machine cannot blur as it blurs req/s.
   */
  cpuUsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  /** The first error, for the report. */
  firstError?: string;
}

/** Runs `op` in a closed loop with a fixed number in flight and measures throughput and latency. */
export async function closedLoop(options: LoopOptions): Promise<LoopResult> {
  const { concurrency, durationMs, maxOps, op } = options;
  let latencies = new Float64Array(Math.min(maxOps, 1 << 16));
  let count = 0;
  let next = 0;
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationMs;

  const record = (ms: number) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = ms;
  };

  async function worker(): Promise<void> {
    while (next < maxOps && performance.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      try {
        // Not `requests += await …`: that reads `requests` before the await and loses updates.
        const n = await op(i);
        requests += n ?? 1;
      } catch (error) {
        errors++;
        requests++;
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      record(performance.now() - t0);
    }
  }

  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latencies.subarray(0, count).sort();
  return {
    requests,
    errors,
    elapsedMs,
    throughput: (requests / elapsedMs) * 1000,
    cpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, requests),
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    ...(firstError ? { firstError } : {}),
  };
}
