// First: the AWS SDK creates a bare `awslambda` global on import, which the shim would then leave alone.
import '../../local/awslambda-shim.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { type CatalogDocument, compileCatalog, type TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { priceUsage } from '../../shared/domain/money.js';
import { cachingMessagesBody, messagesRequest, readMessagesStream } from '../support/anthropic-helpers.js';
import { jsonFrames, marker, rawRequest, readSse, waitFor } from '../support/e2e-helpers.js';
import { CATALOG_V1, chargeFor, createAccount, logItems, walletOf } from '../support/money-helpers.js';
import { assertValid, validateChunk, validateCompletion } from '../support/openai-schema.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * Pricing fidelity against DynamoDB Local and the demo upstream (DESIGN §13): cache reads, cache
 * writes and reasoning tokens are billed at their rates and logged on both surfaces, streamed and
 * not; the upstream's own cost becomes the logged cost; the client sees its charge as usage.cost;
 * reports and the guardrail count the real cost; a free tier charges 0 and is still logged.
 */

let runtime: LocalRuntime;
let db: DynamoDBDocumentClient;
type Item = Record<string, unknown>;
type Usage = Record<string, number | Record<string, number>>;

beforeAll(async () => {
  runtime = await startTestRuntime({ reconcileEveryMs: 0, env: { CATALOG_CACHE_TTL_MS: '200' } });
  db = createDocumentClient(runtime.dynamodbEndpoint);
});
afterAll(async () => {
  await runtime?.close();
});

async function logItem(accountId: string, requestId: string | null): Promise<Item> {
  await runtime.bus.drain();
  const item = (await logItems(db, runtime.tables.requestLog, accountId)).find(
    (i) => i.requestId === requestId,
  );
  if (!item) throw new Error(`no request-log item for ${requestId}`);
  return item;
}

const countsOf = (item: Item) => ({
  inputTokens: Number(item.inputTokens),
  cachedInputTokens: Number(item.cachedInputTokens),
  cacheWriteTokens: Number(item.cacheWriteTokens),
  outputTokens: Number(item.outputTokens),
});

const primaryCost = (tier: TierId) => {
  const model = CATALOG_V1.tiers[tier].models[0];
  if (!model) throw new Error(`${tier} has no model`);
  return model.cost;
};

/** A conversation whose prefix (every message but the last) is long enough for the demo to cache. */
const agentTurn = (tag: string) => [
  { role: 'system', content: `You review code. ${tag} ${'Follow the style guide. '.repeat(250)}` },
  { role: 'user', content: 'tokens:6' },
];

describe('chat completions with prompt caching', () => {
  it('bills cache writes then cache reads at their rates, logs them, and shows the charge as usage.cost', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'chat-cache', 5_000_000);
    const messages = agentTurn(marker('cache'));
    const first = await rawRequest(runtime, { model: 'tier-2', messages }, { apiKey });
    expect(first.status).toBe(200);
    const body = assertValid(validateCompletion, await first.json()) as { usage: Usage };
    const second = await rawRequest(
      runtime,
      { model: 'tier-2', messages, stream: true, stream_options: { include_usage: true } },
      { apiKey },
    );
    const chunks = jsonFrames(await readSse(second));
    for (const c of chunks) assertValid(validateChunk, c);
    const final = chunks.at(-1) as { usage: Usage };

    const written = body.usage.prompt_tokens_details as Record<string, number>;
    const read = final.usage.prompt_tokens_details as Record<string, number>;
    expect(written.cache_write_tokens).toBeGreaterThanOrEqual(1024);
    expect(written.cached_tokens).toBe(0);
    expect(read.cached_tokens).toBe(written.cache_write_tokens);
    expect(read.cache_write_tokens).toBe(0);

    for (const [res, usage] of [
      [first, body.usage],
      [second, final.usage],
    ] as const) {
      const item = await logItem(accountId, res.headers.get('x-request-id'));
      const details = usage.prompt_tokens_details as Record<string, number>;
      expect(item).toMatchObject({
        status: 'ok',
        usageSource: 'upstream',
        inputTokens: usage.prompt_tokens,
        cachedInputTokens: details.cached_tokens,
        cacheWriteTokens: details.cache_write_tokens,
        outputTokens: 6,
        reasoningTokens: 0,
        upstreamCostSource: 'upstream',
      });
      expect(item.chargeMicros).toBe(
        chargeFor('tier-2', Number(usage.prompt_tokens), 6, {
          cachedInputTokens: details.cached_tokens,
          cacheWriteTokens: details.cache_write_tokens,
        }),
      );
      // The demo reports its cost at the list prices: the logged cost is that report.
      expect(item.upstreamCostMicros).toBe(priceUsage(primaryCost('tier-2'), countsOf(item)));
      // The client sees its own charge, never the upstream's cost.
      expect(usage.cost).toBe(Number(item.chargeMicros) / 1_000_000);
      expect(usage.cost).not.toBe(Number(item.upstreamCostMicros) / 1_000_000);
    }
    const cachedItem = await logItem(accountId, second.headers.get('x-request-id'));
    expect(Number(cachedItem.chargeMicros)).toBeLessThan(
      chargeFor('tier-2', Number(cachedItem.inputTokens), 6), // the same tokens billed before §13
    );
  });

  it('logs reasoning tokens as part of the output tokens, billed once', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'reasoning', 5_000_000);
    const res = await rawRequest(
      runtime,
      { model: 'tier-4', messages: [{ role: 'user', content: `think ${marker()} tokens:9` }] },
      { apiKey },
    );
    const body = assertValid(validateCompletion, await res.json()) as { usage: Usage };
    expect(body.usage.completion_tokens_details).toEqual({ reasoning_tokens: 4 });
    const item = await logItem(accountId, res.headers.get('x-request-id'));
    expect(item).toMatchObject({ outputTokens: 9, reasoningTokens: 4 });
    expect(item.chargeMicros).toBe(chargeFor('tier-4', Number(item.inputTokens), 9));
  });
});

describe('Messages with prompt caching', () => {
  it('logs cache reads and writes, priced at the serving model when the upstream reports no cost', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'messages-cache', 5_000_000);
    const tag = marker();
    const request = (stream: boolean) => cachingMessagesBody(tag, stream);
    const first = await messagesRequest(runtime, request(true), { apiKey });
    await readMessagesStream(first);
    const second = await messagesRequest(runtime, request(false), { apiKey });
    const message = (await second.json()) as { usage: Record<string, unknown> };
    expect(message.usage.cost).toBeUndefined(); // Anthropic's usage has no cost field

    const wrote = await logItem(accountId, first.headers.get('request-id'));
    const hit = await logItem(accountId, second.headers.get('request-id'));
    expect(Number(wrote.cacheWriteTokens)).toBeGreaterThan(0);
    expect(hit).toMatchObject({ cachedInputTokens: wrote.cacheWriteTokens, cacheWriteTokens: 0 });
    for (const item of [wrote, hit]) {
      expect(item).toMatchObject({ upstreamCostSource: 'catalog', tier: 'tier-2' });
      expect(item.upstreamCostMicros).toBe(priceUsage(primaryCost('tier-2'), countsOf(item)));
      expect(item.chargeMicros).toBe(priceUsage(CATALOG_V1.tiers['tier-2'].price, countsOf(item)));
    }
  });
});

describe('reports and the guardrail', () => {
  it('report cached, cache-write and reasoning tokens and the margin; the guardrail counts the real cost', async () => {
    const { accountId, apiKey } = await createAccount(runtime, 'reports', 5_000_000);
    const messages = agentTurn(marker('report'));
    for (let i = 0; i < 2; i++)
      await (await rawRequest(runtime, { model: 'tier-2', messages }, { apiKey })).text();
    await runtime.bus.drain();
    const items = await logItems(db, runtime.tables.requestLog, accountId);
    const sum = (field: string) => items.reduce((n, i) => n + Number(i[field] ?? 0), 0);
    const usage = await admin(runtime, 'GET', `/admin/usage?accountId=${accountId}&by=tier`);
    expect(usage.json.rows).toEqual([
      {
        group: 'tier-2',
        requests: 2,
        inputTokens: sum('inputTokens'),
        cachedInputTokens: sum('cachedInputTokens'),
        cacheWriteTokens: sum('cacheWriteTokens'),
        outputTokens: 12,
        reasoningTokens: 0,
        chargeMicros: sum('chargeMicros'),
        upstreamCostMicros: sum('upstreamCostMicros'),
        marginMicros: sum('chargeMicros') - sum('upstreamCostMicros'),
      },
    ]);
    expect(sum('cachedInputTokens')).toBeGreaterThan(0);
    const requests = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}`);
    for (const r of requests.json.requests as Item[]) {
      expect(r.marginMicros).toBe(Number(r.chargeMicros) - Number(r.upstreamCostMicros));
    }

    // Every request of this runtime is logged: the guardrail's spend is their upstream cost.
    const all = await admin(runtime, 'GET', '/admin/requests?limit=1000');
    const guardrail = await admin(runtime, 'GET', '/admin/guardrail');
    const spent = (all.json.requests as Item[]).reduce((n, i) => n + Number(i.upstreamCostMicros), 0);
    expect(guardrail.json.spendMicros).toBe(spent);
  });
});

describe('a catalog whose costs differ from what the upstream reports, and a free tier', () => {
  it("logs the upstream's reported cost, and serves a zero balance on a free tier at a charge of 0", async () => {
    const doc = structuredClone(DEFAULT_CATALOG) as CatalogDocument;
    const model = doc.tiers['tier-2'].models[0];
    if (!model) throw new Error('tier-2 has no model');
    model.inputUsdPerMTok *= 2; // the catalog's idea of the cost, not what the upstream bills
    model.cachedInputUsdPerMTok = 0.2;
    doc.tiers['tier-1'].price = { inputUsdPerMTok: 0, outputUsdPerMTok: 0 };
    const published = await admin(runtime, 'PUT', '/admin/tiers', doc);
    expect(published.status, JSON.stringify(published.json)).toBe(201);
    expect(published.json.warnings).toContain(
      'tier-1 sells below cost at 0%, 50%, 90% cache hits: a request of 20000 prompt and 1000 output tokens costs more upstream than it is charged.',
    );
    const catalog = compileCatalog(doc, Number(published.json.version), '2026-01-01T00:00:00.000Z');

    const { accountId, apiKey } = await createAccount(runtime, 'free', 0);
    const free = await waitFor(
      async () => {
        const res = await rawRequest(
          runtime,
          { model: 'tier-1', messages: [{ role: 'user', content: 'tokens:3' }] },
          { apiKey },
        );
        return res.headers.get('x-tier-catalog-version') === String(published.json.version) && res;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the free tier to be active' },
    );
    expect(free.status).toBe(200);
    const body = (await free.json()) as { usage: Usage };
    expect(body.usage.cost).toBe(0);
    const item = await logItem(accountId, free.headers.get('x-request-id'));
    expect(item).toMatchObject({
      status: 'ok',
      chargeMicros: 0,
      holdMicros: 0,
      catalogVersion: published.json.version,
    });
    expect(Number(item.upstreamCostMicros)).toBeGreaterThan(0);
    expect(await walletOf(db, runtime.tables.ledger, accountId)).toMatchObject({
      balanceMicros: 0,
      heldMicros: 0,
    });

    const paid = await createAccount(runtime, 'reported-cost', 5_000_000);
    const res = await rawRequest(
      runtime,
      { model: 'tier-2', messages: agentTurn(marker('cost')) },
      { apiKey: paid.apiKey },
    );
    const logged = await logItem(paid.accountId, res.headers.get('x-request-id'));
    expect(logged.upstreamCostSource).toBe('upstream');
    expect(logged.upstreamCostMicros).toBe(priceUsage(primaryCost('tier-2'), countsOf(logged)));
    expect(logged.upstreamCostMicros).not.toBe(
      priceUsage(
        catalog.tiers['tier-2'].models[0]?.cost ?? {
          inputMicrosPerMTok: 0,
          outputMicrosPerMTok: 0,
        },
        countsOf(logged),
      ),
    );
  });
});
