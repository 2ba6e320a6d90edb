import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main.js';
import type { LocalRuntime } from '../../local/runtime.js';
import type { CatalogDocument, TierId } from '../../shared/domain/catalog.js';
import { DEFAULT_CATALOG } from '../../shared/domain/default-catalog.js';
import { marker, servedUpstreamRequest, waitFor } from '../support/e2e-helpers.js';
import { chargeFor, createAccount } from '../support/money-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/**
 * tier-auto end to end, through the official SDKs: the tier is picked after validation and before
 * the hold, the response names the chosen tier and why, the request is billed at that tier's
 * price, and shadow mode records what tier-auto would have picked for explicit-tier traffic.
 */

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime({ env: { CATALOG_CACHE_TTL_MS: '200' } });
});
afterAll(async () => {
  await runtime?.close();
});

type Item = Record<string, unknown>;

async function logged(accountId: string, requestId: string): Promise<Item> {
  return waitFor(
    async () => {
      const { json } = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=50`);
      return (json.requests as Item[]).find((i) => i.requestId === requestId);
    },
    { timeoutMs: 15_000, what: `request ${requestId} in the request log` },
  );
}

async function newClient(name: string) {
  const account = await createAccount(runtime, name, 20_000_000);
  const client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: account.apiKey, maxRetries: 0 });
  return { ...account, client };
}

describe('tier-auto through the openai SDK', () => {
  it('is listed in /v1/models and answers GET /v1/models/auto as tier-auto', async () => {
    const { client } = await newClient('auto-models');
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toContain('tier-auto');
    expect((await client.models.retrieve('auto')).id).toBe('tier-auto');
  });

  it('serves a rule-routed request at the chosen tier, names it and bills at its price', async () => {
    const { client, accountId } = await newClient('auto-rule');
    const tag = marker('auto');
    const { data, response } = await client.chat.completions
      .create({
        model: 'tier-auto',
        messages: [
          { role: 'system', content: 'tier-hint: speed' },
          { role: 'user', content: `Design a distributed ledger ${tag} tokens:7` },
        ],
      })
      .withResponse();
    expect(data.model).toBe('tier-1');
    expect(response.headers.get('x-tier')).toBe('tier-1');
    expect(response.headers.get('x-tier-route')).toBe('auto; rule:hint');
    const upstreamModel = servedUpstreamRequest(runtime, tag).body.model as string;
    expect(upstreamModel).toBe(DEFAULT_CATALOG.tiers['tier-1'].models[0]?.id);
    // The route says why, never which model.
    const said = JSON.stringify({ data, headers: Object.fromEntries(response.headers) });
    expect(said).not.toContain(upstreamModel);
    expect(said).not.toContain(upstreamModel.split('/')[0]);
    const item = await logged(accountId, response.headers.get('x-request-id') ?? '');
    expect(item).toMatchObject({
      tier: 'tier-1',
      status: 'ok',
      route: { requested: 'tier-auto', chosen: 'tier-1', reason: 'rule:hint', mode: 'auto' },
    });
    expect(item.chargeMicros).toBe(chargeFor('tier-1', Number(item.inputTokens), Number(item.outputTokens)));
  });

  it('streams a classifier-routed request, every chunk naming the chosen tier', async () => {
    const { client, accountId } = await newClient('auto-stream');
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'auto',
        stream: true,
        messages: [{ role: 'user', content: 'Prove that there are infinitely many primes. tokens:5' }],
      })
      .withResponse();
    const route = response.headers.get('x-tier-route') ?? '';
    expect(route).toMatch(/^auto; model:(0|1)\.\d\d$/);
    const tier = response.headers.get('x-tier') as TierId;
    const models = new Set<string>();
    for await (const chunk of stream) models.add(chunk.model);
    expect([...models]).toEqual([tier]);
    const item = await logged(accountId, response.headers.get('x-request-id') ?? '');
    expect(item.route).toMatchObject({ requested: 'tier-auto', chosen: tier, mode: 'auto' });
    expect(`auto; ${(item.route as Item).reason}`).toBe(route);
    expect(item.chargeMicros).toBe(chargeFor(tier, Number(item.inputTokens), Number(item.outputTokens)));
  });

  it('puts a tool-using request on at least tier-2', async () => {
    const { client } = await newClient('auto-tools');
    const { data, response } = await client.chat.completions
      .create({
        model: 'tier-auto',
        tools: [
          { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } },
        ],
        messages: [{ role: 'user', content: 'Is it Monday? Yes or no. tokens:3' }],
      })
      .withResponse();
    expect(['tier-2', 'tier-3', 'tier-4']).toContain(data.model);
    expect(response.headers.get('x-tier-route')).toMatch(/^auto; (rule:tools|model:)/);
  });
});

describe('tier-auto on the Messages surface', () => {
  it('routes a Messages request the same way', async () => {
    const { apiKey } = await createAccount(runtime, 'auto-messages', 20_000_000);
    const client = new Anthropic({ baseURL: runtime.url, apiKey, maxRetries: 0 });
    const { data, response } = await client.messages
      .create({
        model: 'tier-auto',
        max_tokens: 64,
        system: 'tier-hint: reasoning',
        messages: [{ role: 'user', content: 'Hello tokens:4' }],
      })
      .withResponse();
    expect(data.model).toBe('tier-4');
    expect(response.headers.get('x-tier-route')).toBe('auto; rule:hint');
  });
});

describe('shadow mode', () => {
  it('serves explicit tiers as asked, records what tier-auto would pick, and reports it', async () => {
    const catalog = { ...structuredClone(DEFAULT_CATALOG), auto: { shadow: true } } as CatalogDocument;
    const published = await admin(runtime, 'PUT', '/admin/tiers', catalog);
    expect(published.status, JSON.stringify(published.json)).toBe(201);
    const { client, accountId } = await newClient('shadow');
    const ask = () =>
      client.chat.completions
        .create({
          model: 'tier-3',
          messages: [
            { role: 'system', content: 'tier-hint: speed' },
            { role: 'user', content: 'Say hi tokens:6' },
          ],
        })
        .withResponse();
    // The catalog is cached for up to CATALOG_CACHE_TTL_MS: ask until the shadow catalog serves.
    const { data, response } = await waitFor(
      async () => {
        const r = await ask();
        return r.response.headers.get('x-tier-catalog-version') === String(published.json.version) && r;
      },
      { timeoutMs: 5_000, what: 'the shadow-mode catalog to be active' },
    );
    expect(data.model).toBe('tier-3');
    expect(response.headers.get('x-tier-route')).toBeNull();
    const item = await logged(accountId, response.headers.get('x-request-id') ?? '');
    expect(item.tier).toBe('tier-3');
    expect(item.route).toMatchObject({
      requested: 'tier-3',
      chosen: 'tier-1',
      reason: 'rule:hint',
      mode: 'shadow',
    });
    const [input, output] = [Number(item.inputTokens), Number(item.outputTokens)];
    expect((item.route as Item).chargeMicros).toBe(chargeFor('tier-1', input, output));

    const { status, json } = await admin(runtime, 'GET', `/admin/usage?by=route&accountId=${accountId}`);
    expect(status).toBe(200);
    expect(json.shadow).toMatchObject({ agreement: 0 });
    expect((json.shadow as { requests: number }).requests).toBeGreaterThanOrEqual(1);
    expect(json.matrix).toContainEqual(
      expect.objectContaining({ requested: 'tier-3', chosen: 'tier-1', mode: 'shadow' }),
    );

    let stdout = '';
    const run = (argv: string[]) =>
      runCli(argv, {
        stdout: (s) => {
          stdout += s;
        },
        stderr: () => {},
        env: { TIERGATE_ADMIN_URL: runtime.adminUrl, TIERGATE_ADMIN_TOKEN: runtime.adminToken },
        readStdin: async () => '',
      });
    expect(await run(['routing', '--account', accountId])).toBe(0);
    expect(stdout).toMatch(/tier-auto agreed on 0\.0%/);
    expect(stdout).toMatch(/REQUESTED \\ AUTO/);
    expect(stdout).toMatch(/would have saved \$/);
    stdout = '';
    expect(await run(['routing', '--account', accountId, '--json'])).toBe(0);
    expect(JSON.parse(stdout).shadow.agreeing).toBe(0);
    await admin(runtime, 'PUT', '/admin/tiers', DEFAULT_CATALOG);
  });
});
