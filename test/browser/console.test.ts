import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { requestLogKeys } from '../../shared/tables.js';
import { launchChromium } from '../support/browser.js';
import { marker, rawRequest, roomInUtcDay, servedUpstreamRequest, waitFor } from '../support/e2e-helpers.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/** The key holder's console (DESIGN §15) in a real headless Chromium, against the local runtime. */

const ARTIFACTS = join(PROJECT_ROOT, 'test/artifacts');
const DAY_MS = 86_400_000;

let runtime: LocalRuntime;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;
/** Models that served this test's requests upstream: the console must never name them. */
const upstreamModels = new Set<string>();

const dayOf = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY_MS).toISOString().slice(0, 10);

/** Requests of earlier days, as billing logs them, so the chart has a history to draw. */
const HISTORY: Array<{ daysAgo: number; tier: string; chargeMicros: number }> = [
  { daysAgo: 3, tier: 'tier-1', chargeMicros: 1_200 },
  { daysAgo: 3, tier: 'tier-3', chargeMicros: 9_800 },
  { daysAgo: 9, tier: 'tier-2', chargeMicros: 4_100 },
  { daysAgo: 20, tier: 'tier-4', chargeMicros: 15_000 },
];

async function seedHistory(): Promise<void> {
  const db = createDocumentClient(runtime.dynamodbEndpoint);
  for (const [i, h] of HISTORY.entries()) {
    const startedAt = `${dayOf(h.daysAgo)}T12:00:0${i}.000Z`;
    const requestId = `seeded${i}`;
    await db.send(
      new PutCommand({
        TableName: runtime.tables.requestLog,
        Item: {
          ...requestLogKeys.item(runtime.accountId, startedAt, requestId),
          day: startedAt.slice(0, 10),
          requestId,
          accountId: runtime.accountId,
          keyId: 'seeded',
          tier: h.tier,
          status: 'ok',
          inputTokens: 100,
          outputTokens: 50,
          chargeMicros: h.chargeMicros,
          startedAt,
        },
      }),
    );
  }
}

async function chat(tier: string): Promise<void> {
  const tag = marker();
  const res = await rawRequest(runtime, {
    model: tier,
    max_tokens: 32,
    messages: [{ role: 'user', content: `hello ${tag} tokens:5` }],
  });
  expect(res.status).toBe(200);
  await res.text();
  upstreamModels.add(servedUpstreamRequest(runtime, tag).model);
}

async function loggedCount(): Promise<number> {
  const res = await admin(runtime, 'GET', `/admin/requests?accountId=${runtime.accountId}&limit=1000`);
  return (res.json.requests as unknown[]).length;
}

async function keyView(): Promise<{ account: { balanceMicros: number } }> {
  const res = await rawRequest(runtime, undefined, { method: 'GET', path: '/v1/key' });
  return (await res.json()) as { account: { balanceMicros: number } };
}

// The history is seeded by days ago and today's requests are charted as today: all on one UTC day.
beforeAll(() => roomInUtcDay(60_000), 90_000);
beforeAll(async () => {
  runtime = await startTestRuntime();
  await seedHistory();
  await chat('tier-1');
  await chat('tier-2');
  await waitFor(async () => (await loggedCount()) === HISTORY.length + 2, {
    timeoutMs: 10_000,
    what: "today's requests to be logged",
  });
  browser = await launchChromium();
  context = browser.context;
});
afterAll(async () => {
  await browser?.close();
  await runtime?.close();
});

async function openConsole(): Promise<Page> {
  const page = await context.newPage();
  const response = await page.goto(`${runtime.url}/console`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-security-policy']).toContain("connect-src 'self'");
  return page;
}

/** Types a key into the form and submits it with the keyboard alone. */
async function pasteKey(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key', { exact: true }).focus();
  await page.keyboard.insertText(key);
  await page.keyboard.press('Enter');
}

describe('the console', () => {
  it('says plainly when a key is not accepted, and shows nothing of any account', async () => {
    const page = await openConsole();
    await pasteKey(page, 'tg-this-key-does-not-exist-000000000000000');
    const problem = page.getByRole('alert');
    await problem.waitFor({ state: 'visible' });
    expect(await problem.textContent()).toMatch(/That key was not accepted/);
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await page.close();
  });

  it('says plainly when the wallet is empty, in the playground', async () => {
    const created = await admin(runtime, 'POST', '/admin/accounts', { name: 'empty wallet' });
    expect(created.status).toBe(201);
    const page = await openConsole();
    await pasteKey(page, (created.json.apiKey as { key: string }).key);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    expect(await page.locator('#balance').textContent()).toBe('$0.00');
    expect(await page.locator('#recent-empty').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#outcome[data-state="failed"]').waitFor({ state: 'attached' });
    expect(await page.getByRole('alert').textContent()).toMatch(/The wallet is empty/);
    expect(await page.locator('#reply').textContent()).toBe('');
    await page.close();
  });

  it("shows the account's daily budget beside the key's, and says plainly when the account's is spent", async () => {
    const created = await admin(runtime, 'POST', '/admin/accounts', {
      name: 'capped account',
      creditUsd: 1,
      dailyBudgetUsd: 0.000001,
    });
    expect(created.status).toBe(201);
    const key = (created.json.apiKey as { key: string }).key;
    const first = await rawRequest(
      runtime,
      { model: 'tier-1', max_tokens: 16, messages: [{ role: 'user', content: 'hello tokens:3' }] },
      { apiKey: key },
    );
    expect(first.status).toBe(200);
    await first.text();
    // Until the spend is settled the account's budget is not yet spent; wait for the gateway to say it is.
    const spentMicros = await waitFor(
      async () => {
        const res = await rawRequest(runtime, undefined, { apiKey: key, method: 'GET', path: '/v1/key' });
        const view = (await res.json()) as { account: { spentTodayMicros: number } };
        return view.account.spentTodayMicros || undefined;
      },
      { timeoutMs: 15_000, what: "the account's spend to show in /v1/key" },
    );

    const page = await openConsole();
    await pasteKey(page, key);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    expect(await page.locator('#budget').textContent()).toBe('no daily budget');
    expect(await page.locator('#key-meter').isHidden()).toBe(true);
    expect(await page.locator('#account-budget').textContent()).toBe('$0.000001, none left');
    expect(await page.locator('#account-meter').isVisible()).toBe(true);
    expect(await page.locator('#account-spent-today').textContent()).toBe(
      `$${(spentMicros / 1_000_000).toFixed(6)}`,
    );
    const status = page.getByRole('status').filter({ hasText: 'budget' });
    expect(await status.textContent()).toMatch(
      /^The account's daily budget is spent: every key of the account is refused until \d{4}-\d{2}-\d{2} 00:00 UTC\.$/,
    );

    // The playground's request is refused, and the console names the account's budget, not the key's.
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#outcome[data-state="failed"]').waitFor({ state: 'attached' });
    expect(await page.getByRole('alert').textContent()).toMatch(/^The account's daily budget is spent/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'console-account-budget-spent.png'), fullPage: true });
    await page.close();
  });

  it('shows the balance, the chart, recent requests and a streamed playground reply with its charge', async () => {
    const page = await openConsole();
    await pasteKey(page, runtime.apiKey);
    await page.locator('#dashboard').waitFor({ state: 'visible' });

    // The key lives in session storage only: not in the address bar, not in local storage or cookies.
    expect(await page.evaluate("sessionStorage.getItem('tiergate.key')")).toBe(runtime.apiKey);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    expect(page.url()).not.toContain(runtime.apiKey);
    expect(await context.cookies()).toEqual([]);
    expect(await page.getByLabel('API key', { exact: true }).inputValue()).toBe('');

    // The balance is the API's.
    const view = await keyView();
    const dollars = `$${(view.account.balanceMicros / 1_000_000).toFixed(2)}`;
    await expect.poll(() => page.locator('#balance').textContent()).toBe(dollars);
    // Neither this key nor its account has a daily budget: nothing says one is spent.
    expect(await page.locator('#account-budget').textContent()).toBe('no daily budget');
    expect(await page.locator('#budget-status').isHidden()).toBe(true);

    // One column per day of the last 30, one bar per day and tier with spend: today's two and the history.
    expect(await page.locator('#chart g.day').count()).toBe(30);
    const bars = await page
      .locator('#chart rect.bar')
      .evaluateAll((rects) =>
        rects.map((r) => `${r.parentElement?.getAttribute('data-day')} ${r.getAttribute('data-tier')}`),
      );
    const expected = [
      ...HISTORY.map((h) => `${dayOf(h.daysAgo)} ${h.tier}`),
      `${dayOf(0)} tier-1`,
      `${dayOf(0)} tier-2`,
    ];
    expect(bars.sort()).toEqual(expected.sort());
    // The tallest day is drawn full height, the others in proportion.
    expect(await page.locator('#legend li').count()).toBe(4);

    // Recent requests: the two of today first, then the history.
    const rows = page.locator('#recent-rows tr');
    expect(await rows.count()).toBe(HISTORY.length + 2);
    expect(await rows.nth(0).locator('td').nth(1).textContent()).toBe('tier-2');

    // The playground: a reply streamed token by token, then its tokens and charge.
    await page.getByLabel('Tier', { exact: true }).selectOption('tier-3');
    const tag = marker();
    await page.getByLabel('Prompt', { exact: true }).fill(`Write a few words ${tag} tokens:24`);
    // Counts the text nodes the page appends to the reply: one per streamed token.
    await page.evaluate(`
      window.appended = 0;
      new MutationObserver((records) => {
        for (const r of records) window.appended += r.addedNodes.length;
      }).observe(document.getElementById('reply'), { childList: true });
    `);
    await page.getByRole('button', { name: 'Send' }).click();
    const outcome = page.locator('#outcome[data-state="done"]');
    await outcome.waitFor({ state: 'visible', timeout: 30_000 });
    upstreamModels.add(servedUpstreamRequest(runtime, tag).model);

    const appended = await page.evaluate<number>('window.appended');
    expect(appended).toBeGreaterThan(5);
    const replyText = (await page.locator('#reply').textContent()) ?? '';
    expect(replyText.trim().split(/\s+/).length).toBeGreaterThan(5);

    const recent = await rawRequest(runtime, undefined, { method: 'GET', path: '/v1/requests?limit=1' });
    const [logged] = (
      (await recent.json()) as { data: Array<{ tier: string; chargeMicros: number; outputTokens: number }> }
    ).data;
    expect(logged?.tier).toBe('tier-3');
    const charge = `$${((logged?.chargeMicros ?? 0) / 1_000_000).toFixed(6)}`;
    const shown = (await outcome.textContent()) ?? '';
    expect(shown).toContain(`${logged?.outputTokens} output tokens`);
    expect(shown).toContain(`charge ${charge}`);
    expect(logged?.chargeMicros).toBeGreaterThan(0);

    // The console never names an upstream model.
    const content = await page.content();
    for (const model of upstreamModels) expect(content).not.toContain(model);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'console.png'), fullPage: true });

    // A phone-sized viewport: everything fits without scrolling sideways.
    await page.setViewportSize({ width: 375, height: 740 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(ARTIFACTS, 'console-phone.png'), fullPage: true });

    // Reloading the tab keeps the session's key; "Forget key" drops it.
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Forget key' }).click();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    await page.close();
  });

  it('stops a streaming playground reply when its key is forgotten, and shows the next key only its own figures', async () => {
    const bravo = await admin(runtime, 'POST', '/admin/accounts', { name: 'Bravo', creditUsd: 1 });
    expect(bravo.status).toBe(201);
    const bravoKey = (bravo.json.apiKey as { key: string }).key;
    const page = await openConsole();
    await pasteKey(page, runtime.apiKey);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    const demoName = (await page.locator('#account-name').textContent()) ?? '';
    expect(demoName).not.toBe('Bravo');

    // A reply at 5 tokens a second: still streaming when its key is forgotten.
    await page.getByLabel('Prompt', { exact: true }).fill('Write slowly fault:slow tokens:40');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.locator('#reply').textContent(), { timeout: 10_000 }).not.toBe('');
    await page.getByRole('button', { name: 'Forget key' }).click();
    expect(await page.locator('#reply').textContent()).toBe('');
    expect(await page.locator('#outcome').textContent()).toBe('');

    await pasteKey(page, bravoKey);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await expect.poll(() => page.locator('#account-name').textContent()).toBe('Bravo');
    // Long enough for several more tokens of the forgotten reply, had it gone on.
    await page.waitForTimeout(1_500);
    expect(await page.locator('#reply').textContent()).toBe('');
    expect(await page.locator('#problem').isHidden()).toBe(true);
    expect(await page.locator('#account-name').textContent()).toBe('Bravo');
    expect(await page.getByRole('button', { name: 'Send' }).isEnabled()).toBe(true);
    await page.close();
  });

  it('says when a usage report counted only the newest requests of its range', async () => {
    const page = await openConsole();
    // The gateway caps a key holder's report at 10,000 requests; this account has far fewer, so
    // the report the page gets is the gateway's own, marked truncated on its way.
    await page.route('**/v1/usage?*', async (route) => {
      const response = await route.fetch();
      const report = (await response.json()) as Record<string, unknown>;
      await route.fulfill({ response, json: { ...report, truncated: true } });
    });
    await pasteKey(page, runtime.apiKey);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await expect
      .poll(() => page.locator('#usage-total').textContent())
      .toMatch(/the newest requests only, so the earlier days are incomplete$/);
    await page.close();
  });
});
