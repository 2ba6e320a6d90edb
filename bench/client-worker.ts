/** Worker thread: the bench client, so parsing responses never competes with the gateway's thread. */
import type { RequestSpec, Target } from './client.js';
import { runConcurrent, runSequential } from './load.js';
import { serve } from './threads.js';

export interface SequentialArgs {
  name: string;
  targets: Target[];
  spec: RequestSpec;
  rounds: number;
  warmupRounds: number;
  maxMs: number;
}

export interface ConcurrentArgs {
  name: string;
  targets: Target[];
  spec: RequestSpec;
  total: number;
  concurrency: number;
  warmup: number;
  maxMs: number;
}

serve({
  sequential: (a: SequentialArgs) =>
    runSequential(a.name, a.targets, a.spec, a.rounds, a.warmupRounds, a.maxMs),
  concurrent: (a: ConcurrentArgs) =>
    runConcurrent(a.name, a.targets, a.spec, a.total, a.concurrency, a.warmup, a.maxMs),
  close: async () => null,
});
