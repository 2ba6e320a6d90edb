import { describe, expect, it } from 'vitest';
import { AnthropicMessagesDialect } from '../../shared/dialects/anthropic-messages/dialect.js';
import { OpenAiChatDialect } from '../../shared/dialects/openai-chat/dialect.js';
import { ToolCallIds } from '../../shared/domain/tool-call-ids.js';

/** Each surface's rate-limit headers: what it writes is what a replay leaves out, and no more. */

const ids = async () => new ToolCallIds('rate-limit header test ids');
const limits = { rpm: 60, tpm: 100_000 };
const decision = {
  allowed: true,
  resetSeconds: 7,
  resetsAt: Date.UTC(2026, 0, 1),
  remainingRequests: 59,
  remainingTokens: 99_000,
};

describe.each([
  ['chat completions', new OpenAiChatDialect(ids), 'x-ratelimit-remaining-tokens'],
  ['messages', new AnthropicMessagesDialect(ids), 'anthropic-ratelimit-tokens-remaining'],
])('%s', (_surface, dialect, sample) => {
  it('recognises exactly the six headers it writes for both windows', () => {
    const written = Object.keys(dialect.rateLimitHeaders(limits, decision));
    expect(written).toHaveLength(6);
    expect(written).toContain(sample);
    for (const name of written) expect(dialect.isRateLimitHeader(name)).toBe(true);
    for (const other of ['x-ratelimit-whatever', 'anthropic-ratelimit-x', 'x-request-id', 'retry-after']) {
      expect(dialect.isRateLimitHeader(other)).toBe(false);
    }
  });
});
