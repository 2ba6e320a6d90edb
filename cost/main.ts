/**
 * `npm run cost`: the monthly AWS bill of a deployment at three traffic levels (or one, with
 * --requests-per-day), from the synthesized stack, the operations per request `npm run bench`
 * measured (cost/measured-ops.json) and the dated prices (cost/prices.json).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, table } from '../bench/report.js';
import { readMeasuredOps } from './measured-ops.js';
import {
  type Assumptions,
  BASELINE_MB,
  containerBreakEven,
  containerPlan,
  cpuStretch,
  DEFAULT_ASSUMPTIONS,
  estimate,
  memoryWithinBudget,
  type Prices,
  type Traffic,
  TTFT_BUDGET_MS,
} from './model.js';
import { readStack, synthesizeTemplate } from './stack.js';

const here = dirname(fileURLToPath(import.meta.url));
export const LEVELS = [10_000, 100_000, 1_000_000];

const USAGE = `Usage: npm run cost -- [options]

  --requests-per-day N     one traffic level (default: ${LEVELS.join(', ')})
  --avg-seconds S          mean completions request duration (default 12)
  --stream-share X         share of streaming requests, 0..1 (default 0.8)
  --tokens-per-second N    upstream generation speed, one chunk a token (default 50)
  --dynamodb-ms N          a DynamoDB round trip in the region (default ${DEFAULT_ASSUMPTIONS.dynamodbRoundTripMs})
  --log-bytes N            CloudWatch Logs per request (default ${DEFAULT_ASSUMPTIONS.logBytesPerRequest})
  --ops PATH               measured operations (default cost/measured-ops.json)
  --prices PATH            prices (default cost/prices.json)
  --help`;

function num(
  name: string,
  raw: string | undefined,
  fallback: number,
  max = Number.POSITIVE_INFINITY,
): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max)
    throw new Error(`--${name} must be a number in 0..${max}, got ${raw}`);
  return n;
}

const usd = (x: number): string => (x >= 100 ? `$${x.toFixed(0)}` : `$${x.toFixed(2)}`);

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'requests-per-day': { type: 'string' },
      'avg-seconds': { type: 'string' },
      'stream-share': { type: 'string' },
      'tokens-per-second': { type: 'string' },
      'dynamodb-ms': { type: 'string' },
      'log-bytes': { type: 'string' },
      ops: { type: 'string' },
      prices: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const levels = values['requests-per-day']
    ? [num('requests-per-day', values['requests-per-day'], 0)]
    : LEVELS;
  const shape: Omit<Traffic, 'requestsPerDay'> = {
    avgSeconds: num('avg-seconds', values['avg-seconds'], 12),
    streamShare: num('stream-share', values['stream-share'], 0.8, 1),
    tokensPerSecond: num('tokens-per-second', values['tokens-per-second'], 50),
  };
  const assumptions: Assumptions = {
    ...DEFAULT_ASSUMPTIONS,
    dynamodbRoundTripMs: num('dynamodb-ms', values['dynamodb-ms'], DEFAULT_ASSUMPTIONS.dynamodbRoundTripMs),
    logBytesPerRequest: num('log-bytes', values['log-bytes'], DEFAULT_ASSUMPTIONS.logBytesPerRequest),
  };
  const prices = JSON.parse(
    readFileSync(resolve(values.prices ?? resolve(here, 'prices.json')), 'utf8'),
  ) as Prices & {
    region: string;
    asOf: string;
  };
  const ops = readMeasuredOps(resolve(values.ops ?? resolve(here, 'measured-ops.json')));
  const stack = readStack(synthesizeTemplate());

  const estimates = levels.map((rpd) =>
    estimate(stack, ops, prices, { ...shape, requestsPerDay: rpd }, assumptions),
  );
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(
    `Tiergate monthly AWS cost (${prices.region} list prices of ${prices.asOf}; operations measured ${ops.measuredAt.slice(0, 10)})`,
  );
  out(
    `Requests last ${shape.avgSeconds} s on average, ${Math.round(shape.streamShare * 100)}% stream at ` +
      `${shape.tokensPerSecond} tokens/s. Completions: ${stack.completions.memoryMb} MB ${stack.completions.arch}.`,
  );
  out();
  const first = estimates[0];
  if (!first) return 0;
  out(
    table(
      ['service', 'item', ...levels.map((l) => `${l.toLocaleString('en-US')}/day`)],
      first.lines.map((line, i) => [
        line.service,
        line.item,
        ...estimates.map((e) => usd(e.lines[i]?.usd ?? 0)),
      ]),
    ),
  );
  out();
  const summary = (label: string, f: (e: (typeof estimates)[number]) => string) => [
    label,
    '',
    ...estimates.map(f),
  ];
  out(
    table(
      ['', '', ...levels.map((l) => `${l.toLocaleString('en-US')}/day`)],
      [
        summary('total a month', (e) => usd(e.totalUsd)),
        summary('of which Lambda', (e) => usd(e.lambdaUsd)),
        summary('per 1M requests', (e) => usd((e.totalUsd / e.requestsPerMonth) * 1e6)),
        summary('container instead', (e) => {
          const plan = containerPlan(
            ops,
            prices,
            { ...shape, requestsPerDay: levels[estimates.indexOf(e)] ?? 0 },
            e,
          );
          return `${usd(e.totalUsd - e.lambdaUsd + plan.monthlyUsd)} (${plan.tasks} tasks)`;
        }),
      ],
    ),
  );
  out();
  const breakEven = containerBreakEven(stack, ops, prices, { ...shape, requestsPerDay: 0 }, assumptions);
  out(
    `Gateway CPU: ${fmt(first.cpuMsPerRequest, 2)} ms a request at one vCPU. A Fargate arm64 deployment ` +
      `(1 vCPU / 2 GB tasks, at least 2, behind an ALB) costs less than the functions above ` +
      `${Number.isFinite(breakEven) ? `${Math.round(breakEven).toLocaleString('en-US')} requests a day` : 'at no volume'}.`,
  );
  const base = ops.completions.cpuMsPerRequestBase;
  const c = stack.completions;
  out(
    `Completions memory: ${base.toFixed(2)} ms of CPU a request (an upper bound of the work before the first ` +
      `token) takes ${(base * cpuStretch(c.memoryMb)).toFixed(2)} ms at ${c.memoryMb} MB; the least memory within ` +
      `${TTFT_BUDGET_MS} ms of ${BASELINE_MB} MB's is ${memoryWithinBudget(base, BASELINE_MB, TTFT_BUDGET_MS)} MB (1,769 MB = 1 vCPU).`,
  );
  out(
    "Not included: upstream tokens, data transfer out, free tiers, the admin API, the probe's own completion.",
  );
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`cost: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exitCode = 2;
}
