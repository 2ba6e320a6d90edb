/**
 * What one request costs the deployment, measured: the completions function's CPU per request
 * and per streamed chunk (two runs that differ only in reply length), its heap per stream in
 * flight, and the DynamoDB units, calls and events per request on each side of the bus.
 *
 * The same runs through the pass-through floor (floor-proxy.ts) give what any proxy on this
 * thread pays per request and per chunk; the gateway's figures above it are its own work.
 *
 * CPU per chunk is a slope between runs of short and long replies; CPU that accrues with time
 * (timers, the local bus, cache reloads, SDK housekeeping) would be charged to chunks if the long
 * run lasted longer, so the short replies' time to first token is padded (the demo upstream's
 * `ttft:N`) until both last as long, and what is left of the difference, and the padding itself,
 * is taken off at the main thread's idle CPU rate, measured with nothing in flight.
 * Padding the short replies rather than speeding up the long ones keeps the chunks' cadence the
 * same in both runs: streamed faster than the timers tick, chunks arrive in bursts that one read
 * takes together, which would understate the per-chunk cost. The figure holds for the run's
 * --tokens-per-second only: the slower the chunks come, the more of the thread's wake-up each one
 * pays (at 500 tokens/s the gateway's and the floor's per-chunk CPU came out about twice those at 2000).
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
  atWall,
  type CpuRun,
  type CpuSlope,
  cpuSlope,
  floorCostLines,
  idleRate,
} from './floor.js';
import type { PhaseResult } from './load.js';
import {
  addCounts,
  type CpuClock,
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
/** How long the main thread's idle CPU rate is read with nothing in flight. */
const IDLE_WINDOW_MS = 3_000;
const QUICK_IDLE_WINDOW_MS = 1_000;

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

/** How the CPU runs were brought to one length (see the file's comment). */
export interface CpuTiming {
  clock: CpuClock;
  /** The main thread's CPU with nothing in flight, µs per second of wall time. */
  idleCpuUsPerSecond: number;
  /** Added to the short replies' time to first token so they last as long as the long ones. */
  shortTtftPaddingMs: number;
  /** Wall time per request of each run, padding included. */
  wallMsPerRequest: { gateway: { short: number; long: number }; floor: { short: number; long: number } };
}

export interface CostFigures {
  cpuScope: 'main-thread' | 'process';
  cpuTiming: CpuTiming;
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
  wallMs: number;
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
  let clock: CpuClock = 'schedstat';
  const open = (): Window => {
    const cpu = mainThreadCpu();
    cpuScope = cpu.scope;
    clock = cpu.clock;
    return {
      cpuUs: cpu.us,
      wallMs: performance.now(),
      storage: storageSnapshot(),
      events: events.snapshot(),
    };
  };
  const close = (w: Window): Window => ({
    cpuUs: mainThreadCpu().us - w.cpuUs,
    wallMs: performance.now() - w.wallMs,
    storage: storageSince(w.storage),
    events: events.since(w.events),
  });
  // The short replies wait this much longer for their first token, so that they last as long
  // as the long ones: the long replies stream (LONG − short) more tokens at the upstream's pace.
  const paddingMs =
    p.tokensPerSecond > 0
      ? Math.max(0, Math.round(((LONG_REPLY_TOKENS - p.outputTokens) * 1000) / p.tokensPerSecond))
      : 0;
  const shortSpec = spec(p.outputTokens, paddingMs > 0 ? ` ttft:${p.ttftMs + paddingMs}` : '');
  /** A sequential streaming run of `tokens`-token replies through `target`; `tag` names a path other than the gateway. */
  const completionsRun = async (target: Target, tokens: number, tag = '') => {
    let window: Window | undefined;
    const padded = tokens === p.outputTokens && paddingMs > 0 ? ` ttft+${paddingMs}` : '';
    const label = `cost: ${tag ? `${tag} ` : ''}stream x${rounds}, ${tokens} tokens${padded}`;
    const phase = await runner.run(
      label,
      async () => {
        const w = open();
        const result = await client.call<PhaseResult>('sequential', {
          name: `cost-${tag ? `${tag}-` : ''}stream-${tokens}-tokens`,
          targets: [target],
          spec: tokens === p.outputTokens ? shortSpec : spec(tokens),
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
    return { requests: phase.upstreamCalls, cpuUs: window.cpuUs, wallMs: window.wallMs, window, chunks };
  };
  /**
   * Both runs brought to the short run's length without its padding: the short run loses the
   * padding's idle CPU, the long run whatever idle CPU it ran for beyond that.
   */
  const slopeOf = (short: CpuRun, long: CpuRun, idleUsPerMs: number): CpuSlope => {
    const perRequestMs = per(short.wallMs, short.requests) - paddingMs;
    return cpuSlope(
      atWall(short, idleUsPerMs, perRequestMs * short.requests),
      atWall(long, idleUsPerMs, perRequestMs * long.requests),
    );
  };

  // The main thread's idle rate: nothing in flight, the previous phase's billing settled.
  process.stdout.write(`  ${'cost: main thread idle'.padEnd(44)}`);
  await runner.settle();
  const idleWindow = open();
  await new Promise((r) => setTimeout(r, p.quick ? QUICK_IDLE_WINDOW_MS : IDLE_WINDOW_MS));
  const idle = close(idleWindow);
  const idleUsPerMs = idleRate(idle.cpuUs, idle.wallMs);
  log(`${seconds(idle.wallMs)}  ${fmt(idleUsPerMs * 1000, 0)} µs CPU/s`);

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
  const floorShort = await completionsRun(targets.floor, p.outputTokens, 'floor');
  const floorLong = await completionsRun(targets.floor, LONG_REPLY_TOKENS, 'floor');

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
  const completionsCpu = slopeOf(short, long, idleUsPerMs);
  const floorCpu = slopeOf(floorShort, floorLong, idleUsPerMs);
  const wall = (r: CpuRun) => per(r.wallMs, r.requests);
  const putEvents = short.window.events.events + long.window.events.events;
  const putCalls = short.window.events.putCalls + long.window.events.putCalls;
  return {
    cpuScope,
    cpuTiming: {
      clock,
      idleCpuUsPerSecond: idleUsPerMs * 1000,
      shortTtftPaddingMs: paddingMs,
      wallMsPerRequest: {
        gateway: { short: wall(short), long: wall(long) },
        floor: { short: wall(floorShort), long: wall(floorLong) },
      },
    },
    completions: {
      ...side(
        requests,
        (completionsCpu.cpuMsPerRequestShort * short.requests +
          completionsCpu.cpuMsPerRequestLong * long.requests) *
          1000,
        completionsStorage,
      ),
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
  const t = c.cpuTiming;
  const w = t.wallMsPerRequest;
  log(
    `Cost per request (CPU of the ${c.cpuScope === 'main-thread' ? "gateway's thread" : 'whole process'}, ` +
      `${t.clock === 'schedstat' ? 'ns clock' : t.clock === 'stat-ticks' ? '10 ms ticks' : 'process clock'})`,
  );
  log(
    `  runs of one length: short replies' ttft +${f(t.shortTtftPaddingMs, 0)} ms; wall per request ` +
      `gateway ${f(w.gateway.short, 1)} / ${f(w.gateway.long, 1)} ms, floor ${f(w.floor.short, 1)} / ${f(w.floor.long, 1)} ms ` +
      `(short / long); idle ${f(t.idleCpuUsPerSecond, 0)} µs CPU/s taken off for the padding and any mismatch`,
  );
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
