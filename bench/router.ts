/**
 * `npm run bench:router`: tier-auto's cost. (1) The routing decision in-process (reading the body,
 * rules, classifier) over the labelled set, p50/p99, and the artifact's size and first-use time;
 * (2) the time to first token tier-auto adds over the same tier asked for explicitly, through the
 * local runtime (interleaved pairs, same prompt, same tier). Results: stdout and
 * bench/results/router.json.
 */
import '../local/awslambda-shim.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startLocalRuntime } from '../local/runtime.js';
import { loadDataset, toRouteInput } from '../scripts/router/dataset.js';
import { chatRouteInput } from '../shared/dialects/openai-chat/route-input.js';
import { ROUTER_MODEL } from '../shared/routing/model.generated.js';
import { defaultClassifier, Router } from '../shared/routing/router.js';
import { fmt, table } from './report.js';
import { pairedDifferences, roundSummary, summarize } from './stats.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
// --quick: a smoke run, as the gateway bench's.
const PAIRS = Number(values.pairs ?? (values.quick ? 30 : 150));
const ROUNDS = Number(values.rounds ?? (values.quick ? 4 : 20));

// (1) Decision time. The first use decodes the artifact: that is the cold-start share.
const examples = loadDataset();
const coldStart = performance.now();
const router = new Router(defaultClassifier());
const coldMs = performance.now() - coldStart;
const bodies = examples.map((e) => {
  const input = toRouteInput(e);
  return {
    model: 'tier-auto',
    messages: [
      ...(input.system ? [{ role: 'system', content: input.system }] : []),
      ...input.history.flatMap((h) => [
        { role: 'user', content: h },
        { role: 'assistant', content: 'ok' },
      ]),
      { role: 'user', content: input.prompt },
    ],
  };
});
const decisions: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const body of bodies) {
    const t = performance.now();
    router.route(chatRouteInput(body, 0));
    decisions.push(performance.now() - t);
  }
}
const decision = summarize(decisions.slice(bodies.length)); // the first round warms the JIT

// Long requests: a pasted document under a short question, with a long system prompt and history.
// The decision reads a bounded start of each text, so its time must not grow with the paste.
const LONG_SIZES = [20_000, 200_000, 2_000_000];
const paste = (chars: number): string =>
  'The quarterly report covers revenue, costs and the outlook for each region. '
    .repeat(chars / 75 + 1)
    .slice(0, chars);
const longDecisions = LONG_SIZES.map((chars) => {
  const body = {
    model: 'tier-auto',
    messages: [
      { role: 'system', content: paste(chars / 4) },
      { role: 'user', content: paste(chars / 4) },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: `${paste(chars / 2)}\n\nSummarise this in three bullet points?` },
    ],
  };
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t = performance.now();
    router.route(chatRouteInput(body, 0));
    times.push(performance.now() - t);
  }
  return { chars, ...roundSummary(summarize(times.slice(10))) };
});
const artifactBytes = Buffer.byteLength(JSON.stringify(ROUTER_MODEL));

// (2) Added time to first token, through the local runtime.
const runtime = await startLocalRuntime({ port: 0, demoUpstream: { ttftMs: 50, tokensPerSecond: 5_000 } });
async function ttft(model: string, prompt: string): Promise<{ ms: number; tier: string }> {
  const started = performance.now();
  const res = await fetch(`${runtime.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${runtime.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model,
      stream: true,
      max_tokens: 8,
      messages: [{ role: 'user', content: `${prompt} tokens:4` }],
    }),
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  const ms = performance.now() - started;
  while (!(await reader.read()).done) {}
  return { ms, tier: res.headers.get('x-tier') ?? '' };
}
const auto: number[] = [];
const explicit: number[] = [];
try {
  for (let i = 0; i < PAIRS; i++) {
    const prompt = (examples[i % examples.length] as { prompt: string }).prompt.slice(0, 400);
    // Which request goes first alternates, so neither side always follows the other's billing.
    const tier = router.route(
      chatRouteInput({ model: 'tier-auto', messages: [{ role: 'user', content: `${prompt} tokens:4` }] }, 0),
    ).tier;
    let a: Awaited<ReturnType<typeof ttft>>;
    let e: Awaited<ReturnType<typeof ttft>>;
    if (i % 2 === 0) {
      a = await ttft('tier-auto', prompt);
      e = await ttft(tier, prompt);
    } else {
      e = await ttft(tier, prompt);
      a = await ttft('tier-auto', prompt);
    }
    if (a.tier !== tier) throw new Error(`bench: tier-auto chose ${a.tier}, the in-process router ${tier}`);
    auto.push(a.ms);
    explicit.push(e.ms);
  }
} finally {
  await runtime.close();
}
const added = pairedDifferences(explicit, auto);

const result = {
  decisionMs: roundSummary(decision),
  longDecisionMs: longDecisions,
  coldStartMs: Number(coldMs.toFixed(3)),
  artifactBytes,
  ttftMs: {
    auto: roundSummary(summarize(auto)),
    explicit: roundSummary(summarize(explicit)),
    added: roundSummary(added),
  },
};
console.log(
  table(
    ['measure', 'p50', 'p99', 'n'],
    [
      ['routing decision (ms)', fmt(decision.p50, 4), fmt(decision.p99, 4), decision.n],
      ...longDecisions.map((d) => [
        `routing decision, ${d.chars.toLocaleString('en-US')}-char request (ms)`,
        fmt(d.p50, 4),
        fmt(d.p99, 4),
        d.n,
      ]),
      ['TTFT tier-auto (ms)', fmt(result.ttftMs.auto.p50), fmt(result.ttftMs.auto.p99), auto.length],
      [
        'TTFT explicit tier (ms)',
        fmt(result.ttftMs.explicit.p50),
        fmt(result.ttftMs.explicit.p99),
        explicit.length,
      ],
      ['TTFT added by tier-auto, paired (ms)', fmt(added.p50), fmt(added.p99), added.n],
    ],
  ),
);
console.log(`artifact: ${artifactBytes} bytes; first use (decode): ${coldMs.toFixed(2)} ms`);
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/router.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
