/**
 * `npm run bench`: what the gateway adds to latency and time to first token (TTFT) over calling
 * the upstream directly, and what the wallet hold adds to TTFT.
 *
 * Layout (one process, three event loops, plus DynamoDB Local as a JVM):
 * - main thread: the local runtime (the deployed completions handler behind node:http, the local
 *   bus with billing and guardrail) and a second gateway whose wallet hold is instant;
 * - worker: the demo upstream, with a fixed TTFT and fast token pacing so TTFT dominates;
 * - worker: the bench client (raw fetch, SSE read by hand), identical for every path.
 *
 * Flags: see USAGE. Results: a table on stdout and JSON in bench/results/latest.json.
 */
import '../local/awslambda-shim.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DevServer } from '../local/dev-server.js';
import { type DynamoDbLocal, startDynamoDbLocal } from '../local/dynamodb-local.js';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.js';
import { DEFAULT_CATALOG } from '../shared/domain/default-catalog.js';
import type { RequestSpec, Target } from './client.js';
import type { ConcurrentArgs, SequentialArgs } from './client-worker.js';
import {
  deltaJson,
  type PhaseFigures,
  phaseErrors,
  phaseFigures,
  phaseJson,
  type TargetFigures,
  targetJson,
  targetOf,
} from './figures.js';
import { probeHoldLatency } from './hold-probe.js';
import type { PhaseResult } from './load.js';
import { startNoHoldGateway } from './no-hold-gateway.js';
import { type Cell, fmt, fmtSigned, table } from './report.js';
import { delta, pairedDifferences, round, roundSummary } from './stats.js';
import { WorkerClient } from './threads.js';

const USAGE = `Usage: npm run bench -- [options]

  --quick                  few requests, for a smoke run
  --ttft-ms N              demo upstream time to first token (default 50)
  --tokens-per-second N    demo upstream pacing after the first token (default 2000)
  --output-tokens N        tokens per reply (default 16)
  --requests N             sequential requests per path (default 150; quick 30)
  --concurrency N          requests in flight in the concurrent runs (default 32)
  --concurrent-requests N  requests per concurrent run (default 480; quick 128)
  --json-out PATH          where to write the JSON (default bench/results/latest.json)
  --verbose                let the gateway log warnings
  --help`;

const TIER = 'tier-1';
const REQUEST_TIMEOUT_MS = 15_000;
/** Per phase; a phase that runs longer stops early and is marked truncated. */
const SEQUENTIAL_PHASE_MAX_MS = 60_000;
const CONCURRENT_PHASE_MAX_MS = 20_000;
/** Waiting for the local bus to finish billing the previous phase's requests. */
const SETTLE_MAX_MS = 30_000;
/** The whole run, as a last resort. */
const RUN_MAX_MS = 10 * 60_000;
/** The money path's promise: the hold adds under this much TTFT at p50 for a funded account. */
const HOLD_BUDGET_MS = 1;

interface Params {
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
  jsonOut: string;
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

function parseParams(argv: string[]): Params | undefined {
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
      'json-out': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const quick = values.quick === true;
  const concurrency = intFlag('concurrency', values.concurrency, 32);
  const benchDir = dirname(fileURLToPath(import.meta.url));
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
    jsonOut: resolve(values['json-out'] ?? resolve(benchDir, 'results', 'latest.json')),
    verbose: values.verbose === true,
  };
}

/** Shutdown steps, last registered runs first. Module-level so the watchdog can run them too. */
const cleanups: Array<() => Promise<void>> = [];
async function closeAll(): Promise<void> {
  for (let c = cleanups.pop(); c; c = cleanups.pop()) await c().catch(() => {});
}

const log = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<number> {
  let params: Params | undefined;
  try {
    params = parseParams(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!params) {
    log(USAGE);
    return 0;
  }
  const p = params;
  const runStarted = performance.now();
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg();
  const upstreamModel = DEFAULT_CATALOG.tiers[TIER].models[0]?.id;
  if (!upstreamModel) throw new Error(`the default catalog has no model for ${TIER}`);
  const prompt = `Say something short. tokens:${p.outputTokens}`;

  // The gateway logs through Powertools to stdout; warnings would break up the tables.
  if (!p.verbose) process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';

  const onSignal = (signal: string): void => {
    process.stderr.write(`\nbench: ${signal}, shutting down\n`);
    void closeAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  log(
    `Tiergate bench${p.quick ? ' (quick)' : ''}: ${os.cpus().length} CPUs, node ${process.version}, ` +
      `load ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}; upstream TTFT ${p.ttftMs} ms, ` +
      `${p.outputTokens} tokens at ${p.tokensPerSecond}/s`,
  );

  // As for `npm start`: DYNAMODB_ENDPOINT points at a running DynamoDB Local, else one is started.
  let dynamodbEndpoint = process.env.DYNAMODB_ENDPOINT;
  if (!dynamodbEndpoint) {
    let dynamo: DynamoDbLocal;
    try {
      dynamo = await startDynamoDbLocal();
    } catch (err) {
      process.stderr.write(`bench: ${String((err as Error).message ?? err).split('\n')[0]}\n`);
      return 1;
    }
    cleanups.push(() => dynamo.stop());
    dynamodbEndpoint = dynamo.endpoint;
  }

  try {
    const upstreamWorker = WorkerClient.start(new URL('./upstream-worker.ts', import.meta.url));
    cleanups.push(() => upstreamWorker.stop());
    const demo = await upstreamWorker.call<{ baseUrl: string }>('start', {
      ttftMs: p.ttftMs,
      tokensPerSecond: p.tokensPerSecond,
    });
    const runtime: LocalRuntime = await startLocalRuntime({
      port: 0,
      dynamodbEndpoint,
      tablePrefix: 'bench',
      upstreamBaseUrl: demo.baseUrl,
      demoCreditUsd: 1000,
      dailySpendCapUsd: 1_000_000,
    });
    cleanups.push(() => runtime.close());
    if (runtime.upstream !== undefined) throw new Error('the runtime started its own upstream');
    // Only now: startLocalRuntime has set the environment the second gateway is built from.
    const noHold: DevServer = await startNoHoldGateway();
    cleanups.push(() => noHold.close());
    const client = WorkerClient.start(new URL('./client-worker.ts', import.meta.url));
    cleanups.push(() => client.stop());

    const direct: Target = { name: 'direct', url: `${demo.baseUrl}/chat/completions`, model: upstreamModel };
    const gateway: Target = {
      name: 'gateway',
      url: `${runtime.url}/v1/chat/completions`,
      apiKey: runtime.apiKey,
      model: TIER,
    };
    const gatewayNoHold: Target = {
      name: 'gateway-no-hold',
      url: `${noHold.url}/v1/chat/completions`,
      apiKey: runtime.apiKey,
      model: TIER,
    };
    // A key with a daily budget always admits before calling upstream (its edge is not known
    // locally), as does an account this instance holds no balance snapshot of: this target
    // measures what admission-first costs in time to first token.
    const budgetKey = await fetch(`${runtime.adminUrl}/accounts/${runtime.accountId}/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-admit-first', dailyBudgetUsd: 100_000 }),
    }).then(async (res) => ((await res.json()) as { key: string }).key);
    const gatewayAdmitFirst: Target = {
      name: 'gateway-admit-first',
      url: `${runtime.url}/v1/chat/completions`,
      apiKey: budgetKey,
      model: TIER,
    };
    const streaming: RequestSpec = { stream: true, prompt, timeoutMs: REQUEST_TIMEOUT_MS };
    const buffered: RequestSpec = { stream: false, prompt, timeoutMs: REQUEST_TIMEOUT_MS };

    // Billing of one phase's requests (the local bus, on the main thread) must not spill into
    // the next phase: wait for it, within bounds.
    const settle = async (): Promise<number> => {
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        runtime.bus.drain(),
        new Promise<void>((done) => {
          timer = setTimeout(done, SETTLE_MAX_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      return performance.now() - t0;
    };

    const phases: PhaseFigures[] = [];
    const run = async (label: string, go: () => Promise<PhaseResult>): Promise<PhaseFigures> => {
      process.stdout.write(`  ${label.padEnd(44)}`);
      const settleMs = await settle();
      await upstreamWorker.call('takeRequestCount');
      const gatewayElu0 = performance.eventLoopUtilization();
      const upstreamElu0 = upstreamWorker.elu();
      const t0 = performance.now();
      const phase = await go();
      const elapsed = performance.now() - t0;
      const f = phaseFigures(phase, await upstreamWorker.call<number>('takeRequestCount'), settleMs, {
        gateway: performance.eventLoopUtilization(gatewayElu0).utilization,
        client: phase.clientElu,
        upstream: upstreamWorker.elu(upstreamElu0).utilization,
      });
      const errors = phaseErrors(f);
      log(
        seconds(elapsed) +
          (settleMs >= 100 ? ` (after ${seconds(settleMs)} settling the previous phase)` : '') +
          (errors > 0 ? `  ${errors} FAILED` : '') +
          (phase.truncated ? '  (time limit hit: truncated)' : ''),
      );
      phases.push(f);
      return f;
    };
    const sequential = (label: string, args: SequentialArgs) =>
      run(label, () => client.call<PhaseResult>('sequential', args));
    const concurrent = (label: string, args: ConcurrentArgs) =>
      run(label, () => client.call<PhaseResult>('concurrent', args));

    const { concurrency: c, sequentialRequests: seq, concurrentRequests: cN } = p;
    const seqArgs = { rounds: seq, warmupRounds: p.sequentialWarmup, maxMs: SEQUENTIAL_PHASE_MAX_MS };
    const concArgs = {
      total: cN,
      concurrency: c,
      warmup: p.concurrentWarmup,
      maxMs: CONCURRENT_PHASE_MAX_MS,
    };

    log('Running:');
    process.stdout.write(`  ${`hold transaction alone x${p.holdProbeRequests}`.padEnd(44)}`);
    const probeStarted = performance.now();
    const holdProbe = await probeHoldLatency(
      dynamodbEndpoint,
      runtime.tables.ledger,
      p.holdProbeRequests,
      Math.ceil(p.holdProbeRequests / 10),
    );
    log(seconds(performance.now() - probeStarted));
    const seqStream = await sequential(`sequential streaming x${seq} (4 paths)`, {
      name: 'sequential-stream',
      targets: [direct, gateway, gatewayNoHold, gatewayAdmitFirst],
      spec: streaming,
      ...seqArgs,
    });
    const seqBuffered = await sequential(`sequential non-streaming x${seq} (2 paths)`, {
      name: 'sequential-nonstream',
      targets: [direct, gateway],
      spec: buffered,
      ...seqArgs,
    });
    const concStreamDirect = await concurrent(`c=${c} streaming direct x${cN}`, {
      name: 'concurrent-stream-direct',
      targets: [direct],
      spec: streaming,
      ...concArgs,
    });
    const concBufferedDirect = await concurrent(`c=${c} non-streaming direct x${cN}`, {
      name: 'concurrent-nonstream-direct',
      targets: [direct],
      spec: buffered,
      ...concArgs,
    });
    const concStreamGateway = await concurrent(`c=${c} streaming gateway x${cN}`, {
      name: 'concurrent-stream-gateway',
      targets: [gateway],
      spec: streaming,
      ...concArgs,
    });
    const concBufferedGateway = await concurrent(`c=${c} non-streaming gateway x${cN}`, {
      name: 'concurrent-nonstream-gateway',
      targets: [gateway],
      spec: buffered,
      ...concArgs,
    });
    const concHold = await concurrent(`c=${c} streaming hold on/off x${cN} (mixed)`, {
      name: 'concurrent-stream-hold',
      targets: [gateway, gatewayNoHold],
      spec: streaming,
      ...concArgs,
    });
    const settleAfterMs = await settle();

    // --- Gateway vs direct -------------------------------------------------------------------
    const overhead = [
      { mode: 'sequential', stream: true, concurrency: 1, phase: seqStream, directPhase: seqStream },
      { mode: 'sequential', stream: false, concurrency: 1, phase: seqBuffered, directPhase: seqBuffered },
      {
        mode: `c=${c}`,
        stream: true,
        concurrency: c,
        phase: concStreamGateway,
        directPhase: concStreamDirect,
      },
      {
        mode: `c=${c}`,
        stream: false,
        concurrency: c,
        phase: concBufferedGateway,
        directPhase: concBufferedDirect,
      },
    ].map((r) => {
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

    log();
    log('Latency and time to first token, ms (non-streaming TTFT = time to response headers)');
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
          fmtSigned(r.addedLatency.p50),
          fmtSigned(r.addedLatency.p95),
          fmtSigned(r.addedLatency.p99),
          fmtSigned(r.addedTtft.p50),
          fmtSigned(r.addedTtft.p95),
          fmtSigned(r.addedTtft.p99),
          fmt(r.direct.rps, 1),
          fmt(r.gateway.rps, 1),
        ]),
      ),
    );

    // --- Wallet hold on vs off -----------------------------------------------------------------
    const hold = [
      { mode: 'sequential stream', concurrency: 1, phase: seqStream },
      { mode: `c=${c} stream`, concurrency: c, phase: concHold },
    ].map((r) => {
      const on = targetOf(r.phase, 'gateway');
      const off = targetOf(r.phase, 'gateway-no-hold');
      const added = delta(off.ttft, on.ttft);
      return {
        ...r,
        on,
        off,
        added,
        addedLatency: delta(off.latency, on.latency),
        // Sequential rounds ran back to back, so round i of each path pairs up.
        paired: r.concurrency === 1 ? pairedDifferences(off.ttfts, on.ttfts) : undefined,
        meetsBudget: added.p50 < HOLD_BUDGET_MS,
      };
    });
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
          fmt(r.on.ttft.p50),
          fmt(r.on.ttft.p95),
          fmt(r.on.ttft.p99),
          fmt(r.off.ttft.p50),
          fmt(r.off.ttft.p95),
          fmt(r.off.ttft.p99),
          fmtSigned(r.added.p50),
          fmtSigned(r.added.p95),
          fmtSigned(r.added.p99),
          r.paired ? fmtSigned(r.paired.p50) : '–',
          r.meetsBudget ? 'yes' : 'NO',
        ]),
      ),
    );
    const admitFirst = targetOf(seqStream, 'gateway-admit-first');
    const overlapped = targetOf(seqStream, 'gateway');
    const admitFirstCost = delta(overlapped.ttft, admitFirst.ttft);
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

    // --- JSON ----------------------------------------------------------------------------------
    const totalErrors = phases.reduce((a, f) => a + phaseErrors(f), 0);
    const totalRequests = phases.reduce(
      (a, f) => a + [...f.targets.values()].reduce((b, x) => b + x.n + x.errors, 0),
      0,
    );
    const cpus = os.cpus();
    const result = {
      benchmark: 'tiergate-gateway-overhead',
      startedAt,
      durationMs: Math.round(performance.now() - runStarted),
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model ?? null,
        totalMemoryMb: Math.round(os.totalmem() / 2 ** 20),
        platform: process.platform,
        arch: process.arch,
        node: process.version,
        loadAverageAtStart: loadAtStart.map((x) => round(x)),
        loadAverageAtEnd: os.loadavg().map((x) => round(x)),
      },
      params: {
        quick: p.quick,
        upstreamTtftMs: p.ttftMs,
        upstreamTokensPerSecond: p.tokensPerSecond,
        outputTokens: p.outputTokens,
        tier: TIER,
        upstreamModel,
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
        ],
      },
      gatewayOverhead: overhead.map((r) => ({
        mode: r.concurrency === 1 ? 'sequential' : 'concurrent',
        stream: r.stream,
        concurrency: r.concurrency,
        direct: targetJson(r.direct),
        gateway: targetJson(r.gateway),
        addedLatencyMs: deltaJson(r.addedLatency),
        addedTtftMs: deltaJson(r.addedTtft),
      })),
      walletHold: hold.map((r) => ({
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
        target: targetJson(admitFirst),
        addedTtftVsOverlapped: admitFirstCost,
      },
      holdTransactionAlone: {
        note: 'DynamoWalletStore.placeHold on a scratch account, sequential, before any load',
        latencyMs: roundSummary(holdProbe.latency),
        failures: holdProbe.failures,
      },
      phases: phases.map(phaseJson),
      settleAfterLastPhaseMs: round(settleAfterMs, 1),
      totals: { requests: totalRequests, errors: totalErrors },
    };
    mkdirSync(dirname(p.jsonOut), { recursive: true });
    writeFileSync(p.jsonOut, `${JSON.stringify(result, null, 2)}\n`);
    log();
    log(`JSON: ${p.jsonOut}   (${seconds(result.durationMs)} in all)`);
    // Figures from a run where requests failed describe something else: say so in the exit code.
    if (totalErrors > 0) {
      process.stderr.write(`bench: ${totalErrors} of ${totalRequests} requests failed (see Failures)\n`);
      return 1;
    }
    return 0;
  } finally {
    await closeAll();
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write(`bench: still running after ${RUN_MAX_MS / 1000} s; giving up\n`);
  const forced = setTimeout(() => process.exit(1), 10_000);
  forced.unref();
  void closeAll().finally(() => process.exit(1));
}, RUN_MAX_MS);
watchdog.unref();

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
