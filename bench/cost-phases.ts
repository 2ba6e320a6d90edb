/**
 * What one request costs the deployment, measured: the completions function's CPU per request
 * and per streamed chunk (two runs that differ only in reply length), its heap per stream in
 * flight, and the DynamoDB units, calls and events per request on each side of the bus.
 *
 * The same runs through the pass-through floor (floor-proxy.ts) give what any proxy on this
 * thread pays per request and per chunk; the gateway's figures above it are its own work.
 *
 * While the completions side is measured the bus's targets fail, so billing and guardrail run
 * neither on the gateway's thread nor in its figures; their events are then redriven and measured
 * on their own, as the functions they are in AWS.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { USAGE_RULES } from '../shared/events/rules.js';
import type { RequestSpec, Target } from './client.js';
import {
  type AboveFloor,
  aboveFloor,
  type CpuRun,
  type CpuSlope,
  cpuSlope,
  floorCostLines,
} from './floor.js';
import type { PhaseResult } from './load.js';
import {
  addCounts,
  type EventCounts,
  type EventMeter,
  mainThreadCpu,
  type StorageCounts,
  storageSince,
  storageSnapshot,
} from './meters.js';
import {
  CONCURRENT_PHASE_MAX_MS,
  type Params,
  REQUEST_TIMEOUT_MS,
  SEQUENTIAL_PHASE_MAX_MS,
} from './params.js';
import { log, type PhaseRunner, seconds } from './phases.js';
import { fmt } from './report.js';
import type { Session } from './session.js';
import { per } from './stats.js';

/** Output tokens of the long replies; the short ones have the run's --output-tokens. */
const LONG_REPLY_TOKENS = 256;
/** The demo upstream's `fault:slow` pace (5 tokens/s) keeps streams open while the heap is read. */
const SLOW_REPLY_TOKENS = 10;
const HEAP_SAMPLE_AFTER_MS = 1_000;

export interface SideCosts {
  requests: number;
  cpuMsPerRequest: number;
  dynamodb: {
    callsPerRequest: number;
    readUnitsPerRequest: number;
    writeUnitsPerRequest: number;
    operations: StorageCounts;
  };
}

export interface CostFigures {
  cpuScope: 'main-thread' | 'process';
  /**
   * CPU per request less its chunks (`cpuMsPerRequestBase`): parse, auth, admission, metering,
   * the upstream call; and per chunk, from the slope between short and long replies.
   */
  completions: SideCosts &
    CpuSlope & {
      heapKbPerStream: number;
      eventsPerRequest: number;
      putEventsCallsPerRequest: number;
    };
  /** The pass-through floor's CPU, measured the same way: what any proxy on this thread pays. */
  floor: CpuSlope & { requests: number };
  /** completions − floor: the gateway's own CPU per request and per chunk. */
  completionsAboveFloor: AboveFloor;
  /** Billing and guardrail together, per gateway request. */
  consumers: SideCosts & { invocationsPerRequest: number; cpuMsPerInvocation: number };
}

interface Window {
  cpuUs: number;
  storage: StorageCounts;
  events: EventCounts;
}

function side(requests: number, cpuUs: number, storage: StorageCounts): SideCosts {
  const ops = Object.values(storage);
  const sum = (f: (o: (typeof ops)[number]) => number) => ops.reduce((n, o) => n + f(o), 0);
  return {
    requests,
    cpuMsPerRequest: per(cpuUs, requests) / 1000,
    dynamodb: {
      callsPerRequest: per(
        sum((o) => o.calls),
        requests,
      ),
      readUnitsPerRequest: per(
        sum((o) => o.readUnits),
        requests,
      ),
      writeUnitsPerRequest: per(
        sum((o) => o.writeUnits),
        requests,
      ),
      operations: storage,
    },
  };
}

/** The main thread's heap after a full collection. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

export async function measureCosts(
  session: Session,
  runner: PhaseRunner,
  events: EventMeter,
  p: Params,
): Promise<CostFigures> {
  const { client, runtime, targets } = session;
  const bus = runtime.bus;
  const rounds = p.quick ? 20 : 100;
  const spec = (tokens: number, extra = ''): RequestSpec => ({
    stream: true,
    prompt: `Say something. tokens:${tokens}${extra}`,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  let cpuScope: CostFigures['cpuScope'] = 'main-thread';
  const open = (): Window => {
    const cpu = mainThreadCpu();
    cpuScope = cpu.scope;
    return { cpuUs: cpu.us, storage: storageSnapshot(), events: events.snapshot() };
  };
  const close = (w: Window): Window => ({
    cpuUs: mainThreadCpu().us - w.cpuUs,
    storage: storageSince(w.storage),
    events: events.since(w.events),
  });
  /** A sequential streaming run of `tokens`-token replies through `target`; `tag` names a path other than the gateway. */
  const completionsRun = async (target: Target, tokens: number, tag = '') => {
    let window: Window | undefined;
    const label = `cost: ${tag ? `${tag} ` : ''}stream x${rounds}, ${tokens} tokens`;
    const phase = await runner.run(
      label,
      async () => {
        const w = open();
        const result = await client.call<PhaseResult>('sequential', {
          name: `cost-${tag ? `${tag}-` : ''}stream-${tokens}-tokens`,
          targets: [target],
          spec: spec(tokens),
          rounds,
          warmupRounds: 0,
          maxMs: SEQUENTIAL_PHASE_MAX_MS,
        });
        window = close(w);
        return result;
      },
      'as-is',
    );
    if (!window) throw new Error('internal: no measurement window');
    const samples = phase.phase.targets[0]?.samples.filter((s) => s.ok) ?? [];
    // Data frames less [DONE] and the usage frame, which are written by the gateway, not relayed
    // (the floor relays the upstream's, which are not content chunks either).
    const chunks = per(
      samples.reduce((n, s) => n + Math.max(0, (s.frames ?? 0) - 2), 0),
      samples.length,
    );
    return { requests: phase.upstreamCalls, cpuUs: window.cpuUs, window, chunks };
  };

  // Completions only: the consumers' deliveries fail, their events wait as dead letters.
  await runner.settle();
  bus.setFaults({ failTargets: ['billing', 'guardrail'] });
  let short: Awaited<ReturnType<typeof completionsRun>>;
  let long: Awaited<ReturnType<typeof completionsRun>>;
  try {
    short = await completionsRun(targets.gateway, p.outputTokens);
    long = await completionsRun(targets.gateway, LONG_REPLY_TOKENS);
    await runner.settle();
  } finally {
    bus.setFaults({});
  }

  // The floor, the same runs: it puts nothing on the bus, so nothing waits behind it.
  const floorShort: CpuRun = await completionsRun(targets.floor, p.outputTokens, 'floor');
  const floorLong: CpuRun = await completionsRun(targets.floor, LONG_REPLY_TOKENS, 'floor');

  // The consumers, on their own: the same events, redriven.
  process.stdout.write(`  ${'cost: billing and guardrail, redriven'.padEnd(44)}`);
  const t0 = performance.now();
  const consumerWindow = open();
  for (const rule of USAGE_RULES) bus.redrive(rule.id);
  await runner.settle();
  const consumed = close(consumerWindow);
  log(seconds(performance.now() - t0));

  // Heap per stream in flight: slow replies keep `concurrency` streams open while it is read.
  process.stdout.write(`  ${`cost: heap, ${p.concurrency} slow streams in flight`.padEnd(44)}`);
  await runner.settle();
  const heapBefore = heapAfterGc();
  const slow = client.call<PhaseResult>('concurrent', {
    name: 'cost-heap',
    targets: [targets.gateway],
    spec: spec(SLOW_REPLY_TOKENS, ' fault:slow'),
    total: p.concurrency,
    concurrency: p.concurrency,
    warmup: 0,
    maxMs: CONCURRENT_PHASE_MAX_MS,
  });
  await new Promise((r) => setTimeout(r, HEAP_SAMPLE_AFTER_MS));
  const heapDuring = heapAfterGc();
  const slowResult = await slow;
  const inFlight = slowResult.targets[0]?.samples.filter((s) => s.ok).length ?? 0;
  log(
    `${seconds(slowResult.wallMs)}${inFlight < p.concurrency ? `  ${p.concurrency - inFlight} FAILED` : ''}`,
  );

  const requests = short.requests + long.requests;
  const completionsStorage = addCounts(short.window.storage, long.window.storage);
  const completionsCpu = cpuSlope(short, long);
  const floorCpu = cpuSlope(floorShort, floorLong);
  const putEvents = short.window.events.events + long.window.events.events;
  const putCalls = short.window.events.putCalls + long.window.events.putCalls;
  return {
    cpuScope,
    completions: {
      ...side(requests, short.window.cpuUs + long.window.cpuUs, completionsStorage),
      ...completionsCpu,
      heapKbPerStream: per(heapDuring - heapBefore, inFlight) / 1024,
      eventsPerRequest: per(putEvents, requests),
      putEventsCallsPerRequest: per(putCalls, requests),
    },
    floor: { requests: floorShort.requests + floorLong.requests, ...floorCpu },
    completionsAboveFloor: aboveFloor(completionsCpu, floorCpu),
    consumers: {
      ...side(requests, consumed.cpuUs, consumed.storage),
      invocationsPerRequest: per(consumed.events.deliveries, requests),
      cpuMsPerInvocation: per(consumed.cpuUs, consumed.events.deliveries) / 1000,
    },
  };
}

export function printCosts(c: CostFigures): void {
  const f = (x: number, d = 2) => fmt(x, d);
  const units = (s: SideCosts) =>
    `${f(s.dynamodb.callsPerRequest)} DynamoDB calls, ${f(s.dynamodb.readUnitsPerRequest)} read and ` +
    `${f(s.dynamodb.writeUnitsPerRequest)} write units`;
  const { completions: g, consumers: k } = c;
  log();
  log(`Cost per request (CPU of the ${c.cpuScope === 'main-thread' ? "gateway's thread" : 'whole process'})`);
  log(
    `  completions: ${f(g.cpuMsPerRequestBase, 3)} ms CPU per request + ${f(g.cpuUsPerChunk, 1)} µs per chunk ` +
      `(${f(g.cpuMsPerRequestShort, 3)} ms at ${f(g.chunksPerRequest.short, 0)} chunks, ` +
      `${f(g.cpuMsPerRequestLong, 3)} ms at ${f(g.chunksPerRequest.long, 0)}); ` +
      `heap ${f(g.heapKbPerStream, 1)} KB per stream in flight`,
  );
  log(
    `               ${units(g)}; ${f(g.eventsPerRequest)} events in ${f(g.putEventsCallsPerRequest)} PutEvents`,
  );
  for (const line of floorCostLines(c.floor, c.completionsAboveFloor)) log(line);
  log(
    `  billing + guardrail: ${f(k.invocationsPerRequest)} invocations, ${f(k.cpuMsPerInvocation, 3)} ms CPU each; ${units(k)}`,
  );
}
