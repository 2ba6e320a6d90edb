/** The bench's flags and fixed limits. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const USAGE = `Usage: npm run bench -- [options]

  --quick                  few requests, for a smoke run
  --ttft-ms N              demo upstream time to first token (default 50)
  --tokens-per-second N    demo upstream pacing after the first token (default 2000)
  --output-tokens N        tokens per reply (default 16)
  --requests N             sequential requests per path (default 150; quick 30)
  --concurrency N          requests in flight in the concurrent runs (default 32)
  --concurrent-requests N  requests per concurrent run (default 480; quick 128)
  --warm-up N              unrecorded requests first, so the gateway's code runs optimised, as
                           in a function that has served traffic (default 1200; quick 200; 0: none)
  --json-out PATH          where to write the JSON (default bench/results/latest.json)
  --ops-out PATH           where to write the operations and CPU measured per request
                           (default cost/measured-ops.json, which npm run cost reads)
  --verbose                let the gateway log warnings
  --help`;

export const TIER = 'tier-1';
export const REQUEST_TIMEOUT_MS = 15_000;
/** Per phase; a phase that runs longer stops early and is marked truncated. */
export const SEQUENTIAL_PHASE_MAX_MS = 60_000;
export const CONCURRENT_PHASE_MAX_MS = 20_000;
/** The warm-up's requests in flight: enough to get through it quickly, few enough never to queue. */
export const WARM_UP_CONCURRENCY = 8;
/** The warm-up, which can fail only by erring or by running out of this. */
export const WARM_UP_MAX_MS = 60_000;
/** Waiting for the local bus to finish billing the previous phase's requests. */
export const SETTLE_MAX_MS = 30_000;
/** The whole run, as a last resort. */
export const RUN_MAX_MS = 10 * 60_000;
/** The money path's promise: the hold adds under this much TTFT at p50 for a funded account. */
export const HOLD_BUDGET_MS = 1;

export interface Params {
  quick: boolean;
  ttftMs: number;
  tokensPerSecond: number;
  outputTokens: number;
  sequentialRequests: number;
  sequentialWarmup: number;
  concurrency: number;
  concurrentRequests: number;
  concurrentWarmup: number;
  holdProbeRequests: number;
  /** Unrecorded requests through every path before the first phase. */
  warmUpRequests: number;
  jsonOut: string;
  opsOut: string;
  verbose: boolean;
}

function intFlag(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** The run's parameters, or undefined for --help; throws on a bad flag. */
export function parseParams(argv: string[]): Params | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean', default: false },
      'ttft-ms': { type: 'string' },
      'tokens-per-second': { type: 'string' },
      'output-tokens': { type: 'string' },
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      'concurrent-requests': { type: 'string' },
      'warm-up': { type: 'string' },
      'json-out': { type: 'string' },
      'ops-out': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const quick = values.quick === true;
  const concurrency = intFlag('concurrency', values.concurrency, 32);
  const benchDir = dirname(fileURLToPath(import.meta.url));
  const results = resolve(benchDir, 'results');
  return {
    quick,
    ttftMs: intFlag('ttft-ms', values['ttft-ms'], 50, 0),
    tokensPerSecond: intFlag('tokens-per-second', values['tokens-per-second'], 2000),
    outputTokens: intFlag('output-tokens', values['output-tokens'], 16),
    sequentialRequests: intFlag('requests', values.requests, quick ? 30 : 150),
    sequentialWarmup: quick ? 5 : 15,
    concurrency,
    concurrentRequests: intFlag('concurrent-requests', values['concurrent-requests'], quick ? 128 : 480),
    concurrentWarmup: concurrency,
    holdProbeRequests: quick ? 20 : 50,
    warmUpRequests: intFlag('warm-up', values['warm-up'], quick ? 200 : 1200, 0),
    jsonOut: resolve(values['json-out'] ?? resolve(results, 'latest.json')),
    opsOut: resolve(values['ops-out'] ?? resolve(benchDir, '..', 'cost', 'measured-ops.json')),
    verbose: values.verbose === true,
  };
}
