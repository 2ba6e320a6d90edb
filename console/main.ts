import {
  ConsoleError,
  getJson,
  type KeyView,
  money,
  type RecentRequest,
  type UsageReport,
  usdPrecise,
} from './api.js';
import { daysBetween, drawSpendChart } from './chart.js';
import { runPlayground } from './playground.js';

/** The key holder's console: balance and budgets (the key's and the account's), spend per day by tier, recent requests, a playground. */

// Session storage only: the key is gone when the tab closes, and never enters the URL.
const KEY_ITEM = 'tiergate.key';
/** A little longer than the gateway caches a key's balance view (KEY_VIEW_CACHE_TTL_MS). */
const VIEW_CACHE_SECONDS = 6;

const $ = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing`);
  return found as T;
};

const form = $<HTMLFormElement>('key-form');
const keyInput = $<HTMLInputElement>('key');
const forget = $<HTMLButtonElement>('forget');
const problem = $('problem');
const dashboard = $('dashboard');
const playground = $<HTMLFormElement>('playground');
const send = $<HTMLButtonElement>('send');
const reply = $('reply');
const outcome = $('outcome');
/** The playground's request in flight, if any. */
let running: AbortController | undefined;
/**
 * The key whose dashboard is shown or being opened. A refresh started for another key (a playground
 * request of a key since forgotten, say) renders nothing, so one key's figures never show under another.
 */
let activeKey: string | undefined;

function showProblem(err: unknown): void {
  problem.textContent =
    err instanceof ConsoleError ? err.message : 'Something went wrong in the page. Reload it and try again.';
  problem.hidden = false;
}

function clearProblem(): void {
  problem.textContent = '';
  problem.hidden = true;
}

function currentKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

function renderKey(view: KeyView): void {
  $('account-name').textContent = view.account.name || view.account.id;
  $('balance').textContent = money(view.account.balanceMicros);
  $('held').textContent = money(view.account.heldMicros);
  const { key } = view;
  $('key-name').textContent = key.name ?? key.id;
  $('limits').textContent =
    [key.rpm === null ? null : `${key.rpm} requests/min`, key.tpm === null ? null : `${key.tpm} tokens/min`]
      .filter(Boolean)
      .join(', ') || 'no rate limits';
  $('spent-today').textContent = money(key.spentTodayMicros);
  const resets = new Date(key.budgetResetsAt);
  const resetsAt = `${resets.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  $('resets').textContent = resetsAt;
  const keySpent = renderBudget(key, 'budget', 'key-meter', 'budget-bar');
  $('account-spent-today').textContent = money(view.account.spentTodayMicros);
  const accountSpent = renderBudget(view.account, 'account-budget', 'account-meter', 'account-budget-bar');
  // Admission refuses on whichever budget is spent: say which, as the 429 alone does not.
  const spent = [
    accountSpent ? "The account's daily budget is spent: every key of the account is refused" : null,
    keySpent ? "This key's daily budget is spent: it is refused" : null,
  ].filter(Boolean);
  const status = $('budget-status');
  status.textContent = spent.length > 0 ? `${spent.join('. ')} until ${resetsAt}.` : '';
  status.hidden = spent.length === 0;
}

/** One daily budget, its remaining amount and its bar; true when it is spent. */
function renderBudget(
  figures: { dailyBudgetMicros: number | null; spentTodayMicros: number },
  textId: string,
  meterId: string,
  barId: string,
): boolean {
  const { dailyBudgetMicros: budget, spentTodayMicros: spent } = figures;
  const bar = $<HTMLProgressElement>(barId);
  if (budget === null) {
    $(textId).textContent = 'no daily budget';
    $(meterId).hidden = true;
    return false;
  }
  // Admission refuses once the day's charges reach the budget (a last request may overshoot it).
  const left = Math.max(0, budget - spent);
  $(textId).textContent = `${money(budget)}, ${left === 0 ? 'none' : money(left)} left`;
  $(meterId).hidden = false;
  bar.max = budget;
  bar.value = Math.min(spent, budget);
  bar.textContent = `${Math.round((100 * bar.value) / Math.max(1, bar.max))}%`;
  return left === 0;
}

function renderRecent(requests: RecentRequest[]): void {
  const body = $('recent-rows');
  body.replaceChildren(
    ...requests.map((r) => {
      const row = document.createElement('tr');
      const cells = [
        r.startedAt.slice(0, 19).replace('T', ' '),
        r.tier,
        `${r.inputTokens} / ${r.outputTokens}`,
        usdPrecise(r.chargeMicros),
        r.status,
      ];
      for (const text of cells) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  $('recent-empty').hidden = requests.length > 0;
}

async function refresh(key: string): Promise<void> {
  const [view, usage, recent, models] = await Promise.all([
    getJson<KeyView>('/v1/key', key),
    getJson<UsageReport>('/v1/usage?by=day,tier', key),
    getJson<{ data: RecentRequest[] }>('/v1/requests?limit=20', key),
    getJson<{ data: Array<{ id: string }> }>('/v1/models', key),
  ]);
  if (key !== activeKey) return;
  renderKey(view);
  drawSpendChart(
    $<SVGSVGElement & HTMLElement>('chart'),
    daysBetween(usage.since, usage.until),
    usage.rows,
    $('legend'),
  );
  // A report counts the newest requests of its range only, up to the gateway's cap: say so, as the
  // older days would otherwise look idle.
  $('usage-total').textContent =
    `${money(usage.total.chargeMicros)} over ${usage.total.requests} requests, ${usage.since} to ${usage.until} (UTC)` +
    (usage.truncated ? ': the newest requests only, so the earlier days are incomplete' : '');
  renderRecent(recent.data);
  const tier = $<HTMLSelectElement>('tier');
  const chosen = tier.value;
  tier.replaceChildren(
    ...models.data.map((m) => {
      const option = document.createElement('option');
      option.value = m.id;
      option.textContent = m.id;
      return option;
    }),
  );
  tier.value = models.data.some((m) => m.id === chosen) ? chosen : (models.data[0]?.id ?? '');
}

/** Stops the playground's request in flight and clears what it showed. */
function stopPlayground(): void {
  running?.abort();
  running = undefined;
  reply.replaceChildren();
  outcome.textContent = '';
  delete outcome.dataset.state;
}

async function open(key: string): Promise<void> {
  clearProblem();
  if (key !== currentKey()) stopPlayground();
  activeKey = key;
  form.setAttribute('aria-busy', 'true');
  try {
    await refresh(key);
    sessionStorage.setItem(KEY_ITEM, key);
    dashboard.hidden = false;
    forget.hidden = false;
    keyInput.value = '';
  } catch (err) {
    if (err instanceof ConsoleError && err.kind === 'bad_key') {
      sessionStorage.removeItem(KEY_ITEM);
      dashboard.hidden = true;
    }
    activeKey = currentKey() ?? undefined;
    showProblem(err);
  } finally {
    form.removeAttribute('aria-busy');
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return showProblem(new ConsoleError('Paste an API key first.', 'input'));
  void open(key);
});

forget.addEventListener('click', () => {
  stopPlayground();
  activeKey = undefined;
  sessionStorage.removeItem(KEY_ITEM);
  dashboard.hidden = true;
  forget.hidden = true;
  clearProblem();
  keyInput.focus();
});

playground.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = currentKey();
  const prompt = $<HTMLTextAreaElement>('prompt').value.trim();
  if (!key) return showProblem(new ConsoleError('Open the console with a key first.', 'input'));
  if (!prompt) return showProblem(new ConsoleError('Type a prompt first.', 'input'));
  clearProblem();
  running?.abort();
  const controller = new AbortController();
  running = controller;
  reply.replaceChildren();
  outcome.textContent = 'Streaming…';
  send.disabled = true;
  playground.setAttribute('aria-busy', 'true');
  runPlayground(key, $<HTMLSelectElement>('tier').value, prompt, reply, controller.signal)
    .then(async (result) => {
      if (controller.signal.aborted) return;
      const charge =
        result.chargeMicros === undefined
          ? 'charge not yet settled'
          : `charge ${usdPrecise(result.chargeMicros)}`;
      outcome.textContent = `${result.inputTokens} input tokens, ${result.outputTokens} output tokens, ${charge}`;
      outcome.dataset.state = 'done';
      await refresh(key);
      // The gateway caches a key's view for a few seconds: look again once it has surely expired.
      setTimeout(() => {
        if (currentKey() === key) void refresh(key).catch(() => {});
      }, VIEW_CACHE_SECONDS * 1000);
    })
    .catch((err: unknown) => {
      // Stopped for another request, another key or none: nothing to report.
      if (controller.signal.aborted) return;
      outcome.textContent = '';
      outcome.dataset.state = 'failed';
      showProblem(err);
    })
    .finally(() => {
      if (running !== controller && running !== undefined) return;
      send.disabled = false;
      playground.removeAttribute('aria-busy');
    });
});

const saved = currentKey();
if (saved) void open(saved);
