import { describe, expect, it, vi } from 'vitest';
import { estimateInputTokens, estimateOutputTokens } from '../../shared/lifecycle/estimate.js';

// The tokenizer fails to load (a broken deploy, memory pressure): the estimate must still never under-bill.
vi.mock('gpt-tokenizer/encoding/cl100k_base', () => {
  throw new Error('tokenizer unavailable');
});

describe('estimates without a tokenizer', () => {
  it('bill the input at the hold bound, every time the load fails', async () => {
    const body = { messages: [{ role: 'user', content: '漢字 and words' }] };
    const opts = { mediaParts: 0, mediaAllowance: 4_000, byteBound: 500 };
    expect(await estimateInputTokens(body, opts)).toBe(500);
    expect(await estimateInputTokens(body, opts)).toBe(500);
  });

  it('bill the output at its UTF-8 bytes, which bound any byte-level tokenizer count', async () => {
    expect(await estimateOutputTokens('漢字😀')).toBe(10);
  });
});
