/** The bench's JSON: every figure of the run, and the per-request operations `npm run cost` reads. */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import type { MeasuredOps } from '../cost/measured-ops.js';
import type { CostFigures } from './cost-phases.js';
import { deltaJson, type PhaseFigures, phaseJson, type TargetFigures, targetJson } from './figures.js';
import { type FloorLatency, floorLatencyJson } from './floor.js';
import type { HoldRow, OverheadRow } from './overhead.js';
import {
  CONCURRENT_PHASE_MAX_MS,
  HOLD_BUDGET_MS,
  type Params,
  REQUEST_TIMEOUT_MS,
  SEQUENTIAL_PHASE_MAX_MS,
  TIER,
} from './params.js';
import { type Delta, round, roundSummary, type Summary } from './stats.js';

export interface RunFigures {
  startedAt: string;
  durationMs: number;
  loadAtStart: number[];
  upstreamModel: string;
  overhead: OverheadRow[];
  floor: FloorLatency;
  hold: HoldRow[];
  admitFirst: TargetFigures;
  admitFirstCost: Delta;
  holdProbe: { latency: Summary; failures: number };
  phases: PhaseFigures[];
  settleAfterMs: number;
  costs: CostFigures;
  totals: { requests: number; errors: number };
}

const r3 = (x: number): number => round(x, 3) ?? Number.NaN;

export function measuredOps(costs: CostFigures, startedAt: string): MeasuredOps {
  const dynamo = (d: CostFigures['consumers']['dynamodb']) => ({
    dynamodbCallsPerRequest: r3(d.callsPerRequest),
    dynamodbReadUnitsPerRequest: r3(d.readUnitsPerRequest),
    dynamodbWriteUnitsPerRequest: r3(d.writeUnitsPerRequest),
  });
  const c = costs.completions;
  return {
    source: 'npm run bench (bench/cost-phases.ts) against DynamoDB Local and the local bus',
    measuredAt: startedAt,
    machine: { cpuModel: os.cpus()[0]?.model ?? null, cpus: os.cpus().length, node: process.version },
    cpuScope: costs.cpuScope,
    completions: {
      ...dynamo(c.dynamodb),
      cpuMsPerRequestBase: r3(c.cpuMsPerRequestBase),
      cpuUsPerChunk: r3(c.cpuUsPerChunk),
      heapKbPerStream: r3(c.heapKbPerStream),
      eventsPerRequest: r3(c.eventsPerRequest),
      putEventsCallsPerRequest: r3(c.putEventsCallsPerRequest),
    },
    consumers: {
      ...dynamo(costs.consumers.dynamodb),
      invocationsPerRequest: r3(costs.consumers.invocationsPerRequest),
      cpuMsPerInvocation: r3(costs.consumers.cpuMsPerInvocation),
    },
  };
}

export function resultJson(p: Params, f: RunFigures) {
  const cpus = os.cpus();
  return {
    benchmark: 'tiergate-gateway-overhead',
    startedAt: f.startedAt,
    durationMs: f.durationMs,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? null,
      totalMemoryMb: Math.round(os.totalmem() / 2 ** 20),
      platform: process.platform,
      arch: process.arch,
      node: process.version,
      loadAverageAtStart: f.loadAtStart.map((x) => round(x)),
      loadAverageAtEnd: os.loadavg().map((x) => round(x)),
    },
    params: {
      quick: p.quick,
      upstreamTtftMs: p.ttftMs,
      upstreamTokensPerSecond: p.tokensPerSecond,
      outputTokens: p.outputTokens,
      tier: TIER,
      upstreamModel: f.upstreamModel,
      sequentialRequestsPerPath: p.sequentialRequests,
      sequentialWarmupPerPath: p.sequentialWarmup,
      concurrency: p.concurrency,
      concurrentRequestsPerRun: p.concurrentRequests,
      concurrentWarmupPerRun: p.concurrentWarmup,
      holdProbeRequests: p.holdProbeRequests,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      sequentialPhaseMaxMs: SEQUENTIAL_PHASE_MAX_MS,
      concurrentPhaseMaxMs: CONCURRENT_PHASE_MAX_MS,
      holdBudgetMs: HOLD_BUDGET_MS,
      notes: [
        'percentiles are nearest-rank; added = gateway percentile − direct percentile',
        'streaming TTFT: to the first SSE data frame with non-empty content; non-streaming TTFT: to the response headers',
        'sequential runs interleave the paths request by request, in a seeded random order per round; sequential req/s = ok / summed latency',
        'concurrent req/s = ok / wall time of the run; the hold on/off concurrent run mixes both gateways',
        'threads: gateways + local bus (billing, guardrail) on the main thread; demo upstream and client in workers; DynamoDB Local is a separate JVM',
        'event-loop utilisation: gateway and upstream threads over the whole phase incl. warm-up; client thread over the measured part',
        'costs: CPU of the main thread from /proc (schedstat ns, else stat 10 ms ticks; costPerRequest.cpuTiming.clock says which), summed over the phase; per chunk = the slope between short and long replies, the short ones padded (ttft:N) to last as long and both runs brought to one length at the main thread’s idle CPU rate; DynamoDB units as DynamoDB Local reports them (ReturnConsumedCapacity INDEXES)',
        'pass-through floor: a node:http proxy on the main thread relaying the upstream’s bytes unchanged (keep-alive agent); floor − direct is what any proxy here pays, gateway − floor (latency, TTFT, and CPU in costPerRequest.completionsAboveFloor) is the gateway’s own work',
      ],
    },
    gatewayOverhead: f.overhead.map((r) => ({
      mode: r.concurrency === 1 ? 'sequential' : 'concurrent',
      stream: r.stream,
      concurrency: r.concurrency,
      direct: targetJson(r.direct),
      gateway: targetJson(r.gateway),
      addedLatencyMs: deltaJson(r.addedLatency),
      addedTtftMs: deltaJson(r.addedTtft),
    })),
    passThroughFloor: floorLatencyJson(f.floor),
    walletHold: f.hold.map((r) => ({
      mode: r.concurrency === 1 ? 'sequential' : 'concurrent',
      stream: true,
      concurrency: r.concurrency,
      holdOn: targetJson(r.on),
      holdOff: targetJson(r.off),
      addedTtftMs: deltaJson(r.added),
      addedLatencyMs: deltaJson(r.addedLatency),
      pairedTtftDifferenceMs: r.paired ? roundSummary(r.paired) : null,
      meetsBudget: r.meetsBudget,
    })),
    admissionFirst: {
      note: 'a key with a daily budget: the hold completes before the upstream call starts',
      target: targetJson(f.admitFirst),
      addedTtftVsOverlapped: f.admitFirstCost,
    },
    holdTransactionAlone: {
      note: 'DynamoWalletStore.placeHold on a scratch account, sequential, before any load',
      latencyMs: roundSummary(f.holdProbe.latency),
      failures: f.holdProbe.failures,
    },
    costPerRequest: f.costs,
    phases: f.phases.map(phaseJson),
    settleAfterLastPhaseMs: round(f.settleAfterMs, 1),
    totals: f.totals,
  };
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
