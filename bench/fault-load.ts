/**
 * `npm run load`: the local runtime under increasing concurrency, against a demo upstream that
 * injects faults at random (a 500 on the primary model, a disconnect mid-reply, a missing usage
 * block, a slow trickle), with accounts that run out of credit and keys that hit their rate limit.
 *
 * Reports per stage: throughput, p50/p99 latency of the whole response, and outcomes by code.
 * Then, once the event bus has drained, money conservation over every account: the sum of the
 * request-log charges equals the sum of wallet decreases, no hold remains, no wallet is below zero,
 * and every admitted request has exactly one request-log item. Exits 1 when a check fails.
 *
 * Flags: see USAGE. Results: a table on stdout and JSON in bench/results/load.json.
 * This file holds the set-up, the stages in order and the report; the request and fault mix are in
 * fault-load-traffic.ts, the books and their checks in fault-load-books.ts.
 */
import { seededRandom } from './load.js';
import '../local/awslambda-shim.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type DynamoDbLocal, startDynamoDbLocal } from '../local/dynamodb-local.js';
import { type LocalRuntime, startLocalRuntime } from '../local/runtime.js';
import { createDocumentClient } from '../shared/adapters/dynamodb/client.js';
import {
  type AccountBooks,
  type Check,
  type ClientOutcome,
  conservationChecks,
  type LoadAccount,
  readBooks,
} from './fault-load-books.js';
import { injectRandomFaults, planRequest, runStage, type StageResult } from './fault-load-traffic.js';
import { type Cell, fmt, table } from './report.js';
import { round, summarize } from './stats.js';

const USAGE = `Usage: npm run load -- [options]

  --stages LIST          concurrency of each stage, comma-separated (default 1,8,32,64)
  --requests N           requests per stage (default 400; the concurrency-1 stage sends a third)
  --stage-max-ms N       a stage stops issuing requests after this long (default 25000)
  --accounts N           funded accounts (default 20: 70% funded, 20% low on credit, 10% rate-limited)
  --seed N               seed of the request mix (default 1)
  --json-out PATH        where to write the JSON (default bench/results/load.json)
  --verbose              let the gateway log warnings
  --help`;

/** The whole run, DynamoDB Local start to stop, may not take longer than this. */
const RUN_BUDGET_MS = 240_000;
const FUNDED_MICROS = 1_000_000;
/** Enough for a handful of requests, so these accounts reach insufficient_quota during the run. */
const LOW_MICROS = 2_000;
const LIMITED_RPM = 30;

interface Options {
  stages: number[];
  requests: number;
  stageMaxMs: number;
  accounts: number;
  seed: number;
  jsonOut: string;
  verbose: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      stages: { type: 'string' },
      requests: { type: 'string' },
      'stage-max-ms': { type: 'string' },
      accounts: { type: 'string' },
      seed: { type: 'string' },
      'json-out': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (raw: string | undefined, fallback: number, min: number, max: number, name: string): number => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      console.error(`--${name} must be an integer from ${min} to ${max}\n\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  const stages = (values.stages ?? '1,8,32,64').split(',').map((s) => int(s.trim(), 1, 1, 256, 'stages'));
  const benchDir = dirname(fileURLToPath(import.meta.url));
  return {
    stages,
    requests: int(values.requests, 400, 1, 5_000, 'requests'),
    stageMaxMs: int(values['stage-max-ms'], 25_000, 1_000, 120_000, 'stage-max-ms'),
    accounts: int(values.accounts, 20, 3, 200, 'accounts'),
    seed: int(values.seed, 1, 0, 2 ** 31 - 1, 'seed'),
    jsonOut: resolve(values['json-out'] ?? resolve(benchDir, 'results', 'load.json')),
    verbose: values.verbose ?? false,
  };
}

interface Admin {
  call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
}

function adminClient(runtime: LocalRuntime): Admin {
  return {
    async call(method, path, body) {
      const res = await fetch(`${runtime.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    },
  };
}

async function createAccounts(admin: Admin, count: number): Promise<LoadAccount[]> {
  const low = Math.max(1, Math.round(count * 0.2));
  const limited = Math.max(1, Math.round(count * 0.1));
  const accounts: LoadAccount[] = [];
  for (let i = 0; i < count; i++) {
    const kind: LoadAccount['kind'] = i < low ? 'low' : i < low + limited ? 'limited' : 'funded';
    const creditMicros = kind === 'low' ? LOW_MICROS : FUNDED_MICROS;
    const created = await admin.call('POST', '/admin/accounts', {
      name: `load-${kind}-${i}`,
      creditUsd: creditMicros / 1_000_000,
    });
    const accountId = (created.account as { id: string }).id;
    let apiKey = (created.apiKey as { key: string }).key;
    if (kind === 'limited') {
      const key = await admin.call('POST', `/admin/accounts/${accountId}/keys`, {
        name: 'rate-limited',
        rpm: LIMITED_RPM,
      });
      apiKey = String(key.key);
    }
    accounts.push({ accountId, apiKey, kind, creditMicros });
  }
  return accounts;
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

function stageFigures(stage: StageResult) {
  const latency = summarize(stage.samples.map((s) => s.latencyMs));
  const outcomes = countBy(stage.samples.map((s) => s.outcome));
  return {
    concurrency: stage.concurrency,
    planned: stage.planned,
    sent: stage.sent,
    truncated: stage.truncated,
    wallMs: round(stage.wallMs),
    throughputRps: round(stage.sent / (stage.wallMs / 1000)),
    latencyMs: { p50: round(latency.p50), p99: round(latency.p99), max: round(latency.max) },
    ok: outcomes.ok ?? 0,
    errorsByCode: Object.fromEntries(Object.entries(outcomes).filter(([k]) => k !== 'ok')),
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const watchdog = setTimeout(() => {
    console.error(`load run exceeded its ${RUN_BUDGET_MS / 1000} s budget`);
    process.exit(2);
  }, RUN_BUDGET_MS);
  watchdog.unref();

  let dynamo: DynamoDbLocal | undefined;
  let runtime: LocalRuntime | undefined;
  try {
    dynamo = await startDynamoDbLocal();
    runtime = await startLocalRuntime({
      port: 0,
      dynamodbEndpoint: dynamo.endpoint,
      demoUpstream: { ttftMs: 30, tokensPerSecond: 400 },
      reconcileEveryMs: 0,
      // The run needs every request's spend: no guardrail trip in the middle of it.
      dailySpendCapUsd: 10_000,
      env: { POWERTOOLS_LOG_LEVEL: options.verbose ? 'WARN' : 'SILENT' },
    });
    const admin = adminClient(runtime);
    const accounts = await createAccounts(admin, options.accounts);
    const random = seededRandom(options.seed);
    let index = 0;
    const next = () => planRequest(random, accounts, index++);

    // Warm-up (caches, connections, JIT): not reported, but in the books like everything else.
    const warmUp = await runStage(runtime.url, 4, 24, options.stageMaxMs, next);
    const faults = injectRandomFaults(runtime);
    console.log(`Faults: ${faults.join('; ')}`);
    console.log(
      `Accounts: ${accounts.length} (${accounts.filter((a) => a.kind === 'low').length} low on credit, ` +
        `${accounts.filter((a) => a.kind === 'limited').length} with rpm ${LIMITED_RPM})\n`,
    );

    const stages: StageResult[] = [];
    for (const concurrency of options.stages) {
      const planned = concurrency === 1 ? Math.max(1, Math.round(options.requests / 3)) : options.requests;
      const stage = await runStage(runtime.url, concurrency, planned, options.stageMaxMs, next);
      stages.push(stage);
      const f = stageFigures(stage);
      console.log(
        `stage c=${concurrency}: ${f.sent} requests in ${fmt(stage.wallMs / 1000, 1)} s${f.truncated ? ' (time limit)' : ''}`,
      );
    }
    runtime.upstream?.clearFaults();
    await runtime.bus.drain();

    const db = createDocumentClient(runtime.dynamodbEndpoint);
    const books: AccountBooks[] = [];
    for (const account of accounts) books.push(await readBooks(db, runtime.tables, account));
    const samples = [warmUp, ...stages].flatMap((s) => s.samples);
    const outcomes: ClientOutcome[] = samples.map((s) => ({ requestId: s.requestId, status: s.status }));
    const checks: Check[] = conservationChecks(books, outcomes);

    const figures = stages.map(stageFigures);
    const codes = [...new Set(figures.flatMap((f) => Object.keys(f.errorsByCode)))].sort();
    console.log(
      `\n${table(
        ['concurrency', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'ok', ...codes],
        figures.map((f): Cell[] => [
          f.concurrency,
          f.sent,
          fmt(f.throughputRps, 1),
          fmt(f.latencyMs.p50, 0),
          fmt(f.latencyMs.p99, 0),
          f.ok,
          ...codes.map((c) => f.errorsByCode[c] ?? 0),
        ]),
      )}`,
    );
    const logStatuses = countBy(
      books.flatMap((b) => Object.entries(b.statuses).flatMap(([k, n]) => Array(n).fill(k))),
    );
    const fallbacks = books.reduce((s, b) => s + b.fallbacks, 0);
    const estimated = books.reduce((s, b) => s + b.estimatedUsage, 0);
    console.log(
      `\nRequest log: ${Object.entries(logStatuses)
        .map(([k, n]) => `${k} ${n}`)
        .join(
          ', ',
        )}; ${fallbacks} served or failed after a fallback attempt; ${estimated} billed on estimated usage`,
    );
    console.log('\nMoney conservation:');
    for (const check of checks)
      console.log(`${check.pass ? 'PASS' : 'FAIL'}  ${check.name}: ${check.detail}`);

    const json = {
      generatedAt: new Date().toISOString(),
      node: process.version,
      options: { ...options, jsonOut: undefined },
      upstream: { ttftMs: 30, tokensPerSecond: 400, faults },
      accounts: accounts.map(({ accountId, kind, creditMicros }) => ({ accountId, kind, creditMicros })),
      warmUp: stageFigures(warmUp),
      stages: figures,
      requestLog: { byStatus: logStatuses, fallbacks, estimatedUsage: estimated },
      books: books.map(({ requestIds: _ids, ...rest }) => rest),
      checks,
      pass: checks.every((c) => c.pass),
    };
    mkdirSync(dirname(options.jsonOut), { recursive: true });
    writeFileSync(options.jsonOut, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nJSON: ${options.jsonOut}`);
    process.exitCode = json.pass ? 0 : 1;
  } finally {
    await runtime?.close().catch(() => {});
    await dynamo?.stop().catch(() => {});
    clearTimeout(watchdog);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
