/** From raw samples to the figures the bench reports. */
import type { Sample } from './client.js';
import { type PhaseResult, tallyErrors } from './load.js';
import { type Delta, round, roundSummary, type Summary, summarize } from './stats.js';

export interface TargetFigures {
  target: string;
  n: number;
  errors: number;
  errorExamples: string[];
  /** Sequential: successful requests / summed latency (one client, back to back). Concurrent: ok / wall time. */
  rps: number;
  latency: Summary;
  ttft: Summary;
  /** Per round, undefined for failures: for paired comparisons of interleaved runs. */
  latencies: Array<number | undefined>;
  ttfts: Array<number | undefined>;
}

export interface ThreadElu {
  /** The main thread: both gateways, the local bus and its billing and guardrail consumers. */
  gateway: number;
  client: number;
  upstream: number;
}

export interface PhaseFigures {
  phase: PhaseResult;
  upstreamCalls: number;
  /** Time spent waiting for the previous phase's usage events to settle before this phase. */
  settleBeforeMs: number;
  elu: ThreadElu;
  targets: Map<string, TargetFigures>;
}

export function phaseFigures(
  phase: PhaseResult,
  upstreamCalls: number,
  settleBeforeMs: number,
  elu: ThreadElu,
): PhaseFigures {
  const targets = new Map<string, TargetFigures>();
  for (const t of phase.targets) {
    const ok = t.samples.filter((s) => s.ok);
    const tally = tallyErrors(t.samples);
    const sumLatencySeconds = ok.reduce((a, s) => a + s.latencyMs, 0) / 1000;
    const rps =
      phase.concurrency === 1
        ? sumLatencySeconds > 0
          ? ok.length / sumLatencySeconds
          : Number.NaN
        : ok.length / (phase.wallMs / 1000);
    const okOr = (s: Sample, v: number): number | undefined => (s.ok ? v : undefined);
    targets.set(t.target, {
      target: t.target,
      n: ok.length,
      errors: tally.count,
      errorExamples: tally.examples,
      rps,
      latency: summarize(ok.map((s) => s.latencyMs)),
      ttft: summarize(ok.map((s) => s.ttftMs)),
      latencies: t.samples.map((s) => okOr(s, s.latencyMs)),
      ttfts: t.samples.map((s) => okOr(s, s.ttftMs)),
    });
  }
  return { phase, upstreamCalls, settleBeforeMs, elu, targets };
}

export function targetOf(f: PhaseFigures, name: string): TargetFigures {
  const t = f.targets.get(name);
  if (!t) throw new Error(`internal: no figures for ${name} in ${f.phase.name}`);
  return t;
}

export const phaseErrors = (f: PhaseFigures): number =>
  [...f.targets.values()].reduce((a, t) => a + t.errors, 0);

export function targetJson(f: TargetFigures) {
  return {
    target: f.target,
    ok: f.n,
    errors: f.errors,
    errorExamples: f.errorExamples,
    rps: round(f.rps, 1),
    latencyMs: roundSummary(f.latency),
    ttftMs: roundSummary(f.ttft),
  };
}

export function deltaJson(d: Delta): Record<keyof Delta, number | null> {
  return { p50: round(d.p50), p95: round(d.p95), p99: round(d.p99) };
}

export function phaseJson(f: PhaseFigures) {
  return {
    name: f.phase.name,
    stream: f.phase.stream,
    concurrency: f.phase.concurrency,
    wallMs: round(f.phase.wallMs, 1),
    truncated: f.phase.truncated,
    settleBeforeMs: round(f.settleBeforeMs, 1),
    eventLoopUtilization: {
      gateway: round(f.elu.gateway, 3),
      client: round(f.elu.client, 3),
      upstream: round(f.elu.upstream, 3),
    },
    upstreamCalls: f.upstreamCalls,
    targets: [...f.targets.values()].map(targetJson),
  };
}
