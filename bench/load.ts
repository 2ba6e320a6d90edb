/** Load shapes: sequential with the targets interleaved request by request, and fixed concurrency. */
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../shared/domain/seeded-random.js';
import { type RequestSpec, requestBody, type Sample, type Target, timedRequest } from './client.js';

export interface TargetSamples {
  target: string;
  /** In issue order; for sequential runs index i is round i, so targets pair up by index. */
  samples: Sample[];
}

export interface PhaseResult {
  name: string;
  stream: boolean;
  concurrency: number;
  wallMs: number;
  /** Event-loop utilisation (0..1) of the thread running the client, over the measured part. */
  clientElu: number;
  /** The phase hit its time limit and stopped early. */
  truncated: boolean;
  targets: TargetSamples[];
}

export interface ErrorTally {
  count: number;
  /** Up to five distinct messages. */
  examples: string[];
}

export function tallyErrors(samples: readonly Sample[]): ErrorTally {
  const examples = new Set<string>();
  let count = 0;
  for (const s of samples) {
    if (s.ok) continue;
    count++;
    if (examples.size < 5 && s.error) examples.add(s.error);
  }
  return { count, examples: [...examples] };
}

export { seededRandom };

/** A random permutation of 0..n-1 (Fisher–Yates). */
export function shuffled(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/**
 * `rounds` rounds (after `warmupRounds` discarded ones); each round sends one request to every
 * target, one at a time, in a fresh random order. Interleaving cancels drift; the random order
 * gives every target the same chance of following any other (a gateway request leaves billing
 * work behind it, which must not always land on the same path).
 */
export async function runSequential(
  name: string,
  targets: readonly Target[],
  spec: RequestSpec,
  rounds: number,
  warmupRounds: number,
  maxMs: number,
  seed = 1,
): Promise<PhaseResult> {
  const bodies = targets.map((t) => requestBody(t, spec));
  const out: TargetSamples[] = targets.map((t) => ({ target: t.name, samples: [] }));
  const k = targets.length;
  const random = seededRandom(seed);
  const deadline = performance.now() + maxMs;
  let truncated = false;
  for (let r = 0; r < warmupRounds && performance.now() < deadline; r++) {
    for (const j of shuffled(k, random)) {
      await timedRequest(targets[j] as Target, bodies[j] as Uint8Array, spec);
    }
  }
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    if (performance.now() > deadline) {
      truncated = true;
      break;
    }
    for (const j of shuffled(k, random)) {
      const sample = await timedRequest(targets[j] as Target, bodies[j] as Uint8Array, spec);
      (out[j] as TargetSamples).samples.push(sample);
    }
  }
  const wallMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  return {
    name,
    stream: spec.stream,
    concurrency: 1,
    wallMs,
    clientElu: elu,
    truncated,
    targets: out,
  };
}

/**
 * `total` requests with `concurrency` in flight, after `warmup` discarded ones at the same
 * concurrency (so every pooled connection is open). Request i goes to target i mod k.
 */
export async function runConcurrent(
  name: string,
  targets: readonly Target[],
  spec: RequestSpec,
  total: number,
  concurrency: number,
  warmup: number,
  maxMs: number,
): Promise<PhaseResult> {
  const bodies = targets.map((t) => requestBody(t, spec));
  const k = targets.length;
  const out: TargetSamples[] = targets.map((t) => ({ target: t.name, samples: [] }));
  let truncated = false;

  const drive = async (count: number, record: boolean, deadline: number): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        if (performance.now() > deadline) {
          truncated ||= record;
          return;
        }
        const j = i % k;
        const sample = await timedRequest(targets[j] as Target, bodies[j] as Uint8Array, spec);
        if (record) (out[j] as TargetSamples).samples.push(sample);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  };

  await drive(warmup, false, performance.now() + maxMs);
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await drive(total, true, t0 + maxMs);
  const wallMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  return {
    name,
    stream: spec.stream,
    concurrency,
    wallMs,
    clientElu: elu,
    truncated,
    targets: out,
  };
}
