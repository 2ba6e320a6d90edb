/**
 * `npm run bench`: what the gateway adds to latency and time to first token (TTFT) over calling
 * the upstream directly and over a pass-through proxy (the floor any proxy here pays), what the
 * wallet hold adds to TTFT, and what a request costs to serve (CPU, heap, DynamoDB units,
 * events). The threads it runs on: see session.ts.
 *
 * Flags: see USAGE. Results: tables on stdout, JSON in bench/results/latest.json, and the
 * per-request operations `npm run cost` reads in cost/measured-ops.json.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { RequestSpec } from './client.js';
import { measureCosts, printCosts } from './cost-phases.js';
import { phaseErrors, targetOf } from './figures.js';
import { floorLatency, printFloorLatency } from './floor.js';
import { probeHoldLatency } from './hold-probe.js';
import { EventMeter, installStorageMeter } from './meters.js';
import { holdRows, overheadRows, printHold, printOverhead, printPhases } from './overhead.js';
import {
  CONCURRENT_PHASE_MAX_MS,
  type Params,
  parseParams,
  REQUEST_TIMEOUT_MS,
  RUN_MAX_MS,
  SEQUENTIAL_PHASE_MAX_MS,
  USAGE,
  WARM_UP_CONCURRENCY,
  WARM_UP_MAX_MS,
} from './params.js';
import { log, PhaseRunner, seconds } from './phases.js';
import { measuredOps, resultJson, writeJson } from './result.js';
import { closeAll, dynamoDbEndpoint, startSession } from './session.js';
import { delta } from './stats.js';

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

  let dynamodbEndpoint: string;
  try {
    dynamodbEndpoint = await dynamoDbEndpoint();
  } catch (err) {
    process.stderr.write(`bench: ${String((err as Error).message ?? err).split('\n')[0]}\n`);
    return 1;
  }

  try {
    // Before the handlers load: every DynamoDB client they build is then metered.
    installStorageMeter();
    const session = await startSession(dynamodbEndpoint, {
      ttftMs: p.ttftMs,
      tokensPerSecond: p.tokensPerSecond,
    });
    const events = new EventMeter(session.runtime.bus);
    const { direct, floor, gateway, gatewayNoHold, gatewayAdmitFirst } = session.targets;
    const runner = new PhaseRunner(session);
    const streaming: RequestSpec = { stream: true, prompt, timeoutMs: REQUEST_TIMEOUT_MS };
    const buffered: RequestSpec = { stream: false, prompt, timeoutMs: REQUEST_TIMEOUT_MS };

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
      session.runtime.tables.ledger,
      p.holdProbeRequests,
      Math.ceil(p.holdProbeRequests / 10),
    );
    log(seconds(performance.now() - probeStarted));
    const warmUp = (spec: RequestSpec, total: number) =>
      runner.warmUp(`warm-up: ${spec.stream ? 'streaming' : 'non-streaming'} x${total}, not recorded`, {
        name: 'warm-up',
        targets: [floor, gateway, gatewayNoHold, gatewayAdmitFirst],
        spec,
        total,
        concurrency: WARM_UP_CONCURRENCY,
        warmup: 0,
        maxMs: WARM_UP_MAX_MS,
      });
    await warmUp(streaming, Math.ceil((p.warmUpRequests * 3) / 4));
    await warmUp(buffered, Math.floor(p.warmUpRequests / 4));
    const seqStream = await runner.sequential(`sequential streaming x${seq} (5 paths)`, {
      name: 'sequential-stream',
      targets: [direct, floor, gateway, gatewayNoHold, gatewayAdmitFirst],
      spec: streaming,
      ...seqArgs,
    });
    const seqBuffered = await runner.sequential(`sequential non-streaming x${seq} (2 paths)`, {
      name: 'sequential-nonstream',
      targets: [direct, gateway],
      spec: buffered,
      ...seqArgs,
    });
    const concurrent = (name: string, label: string, targets: (typeof direct)[], spec: RequestSpec) =>
      runner.concurrent(label, { name, targets, spec, ...concArgs });
    const concStreamDirect = await concurrent(
      'concurrent-stream-direct',
      `c=${c} streaming direct x${cN}`,
      [direct],
      streaming,
    );
    const concBufferedDirect = await concurrent(
      'concurrent-nonstream-direct',
      `c=${c} non-streaming direct x${cN}`,
      [direct],
      buffered,
    );
    const concStreamGateway = await concurrent(
      'concurrent-stream-gateway',
      `c=${c} streaming gateway x${cN}`,
      [gateway],
      streaming,
    );
    const concBufferedGateway = await concurrent(
      'concurrent-nonstream-gateway',
      `c=${c} non-streaming gateway x${cN}`,
      [gateway],
      buffered,
    );
    const concHold = await concurrent(
      'concurrent-stream-hold',
      `c=${c} streaming hold on/off x${cN} (mixed)`,
      [gateway, gatewayNoHold],
      streaming,
    );
    const costs = await measureCosts(session, runner, events, p);
    const settleAfterMs = await runner.settle();

    const overhead = overheadRows([
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
    ]);
    printOverhead(overhead);
    const floorFigures = floorLatency(seqStream);
    printFloorLatency(floorFigures);
    const hold = holdRows([
      { mode: 'sequential stream', concurrency: 1, phase: seqStream },
      { mode: `c=${c} stream`, concurrency: c, phase: concHold },
    ]);
    const admitFirst = targetOf(seqStream, 'gateway-admit-first');
    const admitFirstCost = delta(targetOf(seqStream, 'gateway').ttft, admitFirst.ttft);
    printHold(hold, admitFirst, admitFirstCost, holdProbe);
    printCosts(costs);
    const { phases } = runner;
    printPhases(phases);

    const totalErrors = phases.reduce((a, f) => a + phaseErrors(f), 0);
    const totalRequests = phases.reduce(
      (a, f) => a + [...f.targets.values()].reduce((b, x) => b + x.n + x.errors, 0),
      0,
    );
    const result = resultJson(p, {
      startedAt,
      durationMs: Math.round(performance.now() - runStarted),
      loadAtStart,
      upstreamModel: session.upstreamModel,
      overhead,
      floor: floorFigures,
      hold,
      admitFirst,
      admitFirstCost,
      holdProbe,
      phases,
      settleAfterMs,
      costs,
      totals: { requests: totalRequests, errors: totalErrors },
    });
    writeJson(p.jsonOut, result);
    log();
    log(`JSON: ${p.jsonOut}   (${seconds(result.durationMs)} in all)`);
    // Figures from a run where requests failed describe something else: say so in the exit code,
    // and keep them out of the cost model.
    if (totalErrors > 0) {
      process.stderr.write(`bench: ${totalErrors} of ${totalRequests} requests failed (see Failures)\n`);
      return 1;
    }
    writeJson(p.opsOut, measuredOps(costs, startedAt));
    log(`Operations per request for npm run cost: ${p.opsOut}`);
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
