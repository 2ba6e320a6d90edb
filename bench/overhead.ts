/** Gateway against direct, and the wallet hold on against off: the figures and their tables. */
import { type PhaseFigures, phaseErrors, type TargetFigures, targetOf } from './figures.js';
import { HOLD_BUDGET_MS } from './params.js';
import { log } from './phases.js';
import { type Cell, fmt, fmtSigned, table } from './report.js';
import { type Delta, delta, pairedDifferences, type Summary } from './stats.js';

export interface OverheadRow {
  label: string;
  stream: boolean;
  concurrency: number;
  direct: TargetFigures;
  gateway: TargetFigures;
  addedLatency: Delta;
  addedTtft: Delta;
}

export interface HoldRow {
  mode: string;
  concurrency: number;
  on: TargetFigures;
  off: TargetFigures;
  added: Delta;
  addedLatency: Delta;
  paired: Summary | undefined;
  meetsBudget: boolean;
}

export interface OverheadInput {
  mode: string;
  stream: boolean;
  concurrency: number;
  phase: PhaseFigures;
  directPhase: PhaseFigures;
}

export function overheadRows(inputs: readonly OverheadInput[]): OverheadRow[] {
  return inputs.map((r) => {
    const d = targetOf(r.directPhase, 'direct');
    const g = targetOf(r.phase, 'gateway');
    return {
      label: `${r.mode} ${r.stream ? 'stream' : 'non-stream'}`,
      stream: r.stream,
      concurrency: r.concurrency,
      direct: d,
      gateway: g,
      addedLatency: delta(d.latency, g.latency),
      addedTtft: delta(d.ttft, g.ttft),
    };
  });
}

export function holdRows(inputs: ReadonlyArray<{ mode: string; concurrency: number; phase: PhaseFigures }>) {
  return inputs.map((r): HoldRow => {
    const on = targetOf(r.phase, 'gateway');
    const off = targetOf(r.phase, 'gateway-no-hold');
    const added = delta(off.ttft, on.ttft);
    return {
      mode: r.mode,
      concurrency: r.concurrency,
      on,
      off,
      added,
      addedLatency: delta(off.latency, on.latency),
      // Sequential rounds ran back to back, so round i of each path pairs up.
      paired: r.concurrency === 1 ? pairedDifferences(off.ttfts, on.ttfts) : undefined,
      meetsBudget: added.p50 < HOLD_BUDGET_MS,
    };
  });
}

const pathRow = (label: string, f: TargetFigures): Cell[] => [
  label,
  f.target,
  f.n,
  f.errors,
  fmt(f.rps, 1),
  fmt(f.latency.p50),
  fmt(f.latency.p95),
  fmt(f.latency.p99),
  fmt(f.ttft.p50),
  fmt(f.ttft.p95),
  fmt(f.ttft.p99),
];

const signedPercentiles = (d: Delta): Cell[] => [fmtSigned(d.p50), fmtSigned(d.p95), fmtSigned(d.p99)];
const percentiles = (s: Summary): Cell[] => [fmt(s.p50), fmt(s.p95), fmt(s.p99)];

export function printOverhead(overhead: readonly OverheadRow[]): void {
  log();
  log('Latency and time to first token, ms (non-streaming TTFT = time to response headers)');
  log(
    table(
      ['mode', 'path', 'ok', 'err', 'req/s', 'lat p50', 'p95', 'p99', 'ttft p50', 'p95', 'p99'],
      overhead.flatMap((r) => [pathRow(r.label, r.direct), pathRow(r.label, r.gateway)]),
    ),
  );
  log();
  log('Added by the gateway (gateway − direct, per percentile), ms');
  log(
    table(
      ['mode', 'lat Δp50', 'Δp95', 'Δp99', 'ttft Δp50', 'Δp95', 'Δp99', 'req/s direct', 'gateway'],
      overhead.map((r) => [
        r.label,
        ...signedPercentiles(r.addedLatency),
        ...signedPercentiles(r.addedTtft),
        fmt(r.direct.rps, 1),
        fmt(r.gateway.rps, 1),
      ]),
    ),
  );
}

export function printHold(
  hold: readonly HoldRow[],
  admitFirst: TargetFigures,
  admitFirstCost: Delta,
  holdProbe: { latency: Summary; failures: number },
): void {
  log();
  log('Wallet hold: streaming TTFT with the hold (on) vs an instant wallet (off), interleaved, ms');
  log(
    table(
      [
        'mode',
        'on p50',
        'p95',
        'p99',
        'off p50',
        'p95',
        'p99',
        'Δp50',
        'Δp95',
        'Δp99',
        'paired Δ median',
        `Δp50 < ${HOLD_BUDGET_MS} ms`,
      ],
      hold.map((r) => [
        r.mode,
        ...percentiles(r.on.ttft),
        ...percentiles(r.off.ttft),
        ...signedPercentiles(r.added),
        r.paired ? fmtSigned(r.paired.p50) : '–',
        r.meetsBudget ? 'yes' : 'NO',
      ]),
    ),
  );
  log(
    `Admission before the upstream call (budget key), sequential stream TTFT p50 ${fmt(admitFirst.ttft.p50)}  ` +
      `p95 ${fmt(admitFirst.ttft.p95)}  p99 ${fmt(admitFirst.ttft.p99)} ms; vs overlapped: ` +
      `Δp50 ${fmtSigned(admitFirstCost.p50)}  Δp95 ${fmtSigned(admitFirstCost.p95)}  Δp99 ${fmtSigned(admitFirstCost.p99)} ms`,
  );
  log(
    `Hold transaction alone (DynamoDB Local, sequential, idle): p50 ${fmt(holdProbe.latency.p50)}  ` +
      `p95 ${fmt(holdProbe.latency.p95)}  p99 ${fmt(holdProbe.latency.p99)} ms` +
      (holdProbe.failures > 0 ? `  (${holdProbe.failures} failed)` : ''),
  );
}

export function printPhases(phases: readonly PhaseFigures[]): void {
  log();
  log('Phases: event-loop utilisation per thread; settle = waiting for the previous phase to be billed');
  log(
    table(
      ['phase', 'wall s', 'ELU gateway', 'client', 'upstream', 'settle s', 'upstream calls', 'failed'],
      phases.map((f) => [
        f.phase.name + (f.phase.truncated ? ' (truncated)' : ''),
        fmt(f.phase.wallMs / 1000, 1),
        fmt(f.elu.gateway),
        fmt(f.elu.client),
        fmt(f.elu.upstream),
        fmt(f.settleBeforeMs / 1000, 1),
        f.upstreamCalls,
        phaseErrors(f),
      ]),
    ),
  );
  const failures = phases.flatMap((f) =>
    [...f.targets.values()]
      .filter((x) => x.errors > 0)
      .map((x) => `${f.phase.name}/${x.target}: ${x.errors} failed, e.g. ${x.errorExamples.join(' | ')}`),
  );
  if (failures.length > 0) {
    log();
    log('Failures:');
    for (const line of failures) log(`  ${line}`);
  }
}
