import fc from 'fast-check';
import { countTokens } from 'gpt-tokenizer/encoding/cl100k_base';
import { describe, expect, it } from 'vitest';
import {
  estimateInputTokens,
  estimateOutputTokens,
  inputTokenBound,
  pieceEnd,
  TOKENS_PER_MESSAGE,
  TOOL_PROMPT_TOKENS,
} from '../../shared/lifecycle/estimate.js';

/**
 * Usage estimates when the upstream sent none: never below a real tokenizer's count, never above the hold.
 * The reference count is cl100k_base's over the whole text, unsplit (inputs stay small: its merge is
 * quadratic in a pre-token's length).
 */

const reference = (text: string): number => countTokens(text, { disallowedSpecial: new Set() });
const bytes = (value: unknown): number =>
  Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value));
const chat = (...contents: string[]) => ({
  model: 'openai/gpt-4o-mini',
  messages: contents.map((content) => ({ role: 'user', content })),
});
/** Options as admission computes them for a text-only body: its bytes are the hold's input bound. */
const textOnly = (body: unknown) => ({ mediaParts: 0, mediaAllowance: 4_000, byteBound: bytes(body) });

const codePoint = (min: number, max: number) =>
  fc.integer({ min, max }).map((cp) => String.fromCodePoint(cp));
/** One fragment of multilingual text: scripts whose tokenizers differ most, and the runs that are slow. */
const fragment = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
  fc.string({ unit: codePoint(0x4e00, 0x9fff), maxLength: 40 }), // CJK ideographs
  fc.string({ unit: codePoint(0x3040, 0x30ff), maxLength: 20 }), // kana
  fc.string({ unit: codePoint(0xac00, 0xd7a3), maxLength: 20 }), // hangul
  fc.string({ unit: codePoint(0x1f300, 0x1faff), maxLength: 20 }), // emoji, outside the BMP
  fc.string({ unit: codePoint(0x0400, 0x06ff), maxLength: 20 }), // Cyrillic, Hebrew, Arabic
  fc.string({ unit: codePoint(0x0900, 0x0e7f), maxLength: 20 }), // Indic scripts, Thai
  fc
    .tuple(codePoint(0x61, 0x7a), fc.string({ unit: codePoint(0x300, 0x36f), maxLength: 6 }))
    .map(([base, marks]) => base + marks), // combining marks
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }), // any code point, lone surrogates included
  fc.constantFrom(' ', '\n', '\t', '  ', '\r\n', '<|endoftext|>', '"', '\\'),
  // A run longer than one piece, so that pieces are cut inside it.
  fc
    .tuple(fc.constantFrom('漢', '😀', 'a', 'Z9+/', '👩‍👩‍👧', 'é'), fc.integer({ min: 100, max: 400 }))
    .map(([unit, n]) => unit.repeat(n)),
);
const multilingual = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(''));

describe('estimateInputTokens', () => {
  it('is never below the tokenizer count of the text, nor above the byte bound', async () => {
    await fc.assert(
      fc.asyncProperty(multilingual, async (text) => {
        const body = chat(text);
        const estimate = await estimateInputTokens(body, textOnly(body));
        expect(estimate).toBeGreaterThanOrEqual(reference(text));
        expect(estimate).toBeLessThanOrEqual(bytes(body));
      }),
      { numRuns: 120 },
    );
  });

  it('never exceeds any bound it is given, down to zero', async () => {
    await fc.assert(
      fc.asyncProperty(multilingual, fc.nat({ max: 50_000 }), async (text, byteBound) => {
        const body = chat(text);
        const estimate = await estimateInputTokens(body, { mediaParts: 1, mediaAllowance: 4_000, byteBound });
        expect(estimate).toBeGreaterThanOrEqual(0);
        expect(estimate).toBeLessThanOrEqual(byteBound);
      }),
      { numRuns: 60 },
    );
  });

  it('grows with every message and with tools', async () => {
    const unbounded = { mediaParts: 0, mediaAllowance: 0, byteBound: Number.MAX_SAFE_INTEGER };
    await fc.assert(
      fc.asyncProperty(multilingual, multilingual, async (first, second) => {
        const one = await estimateInputTokens(chat(first), unbounded);
        const two = await estimateInputTokens(chat(first, second), unbounded);
        expect(two).toBeGreaterThanOrEqual(one + TOKENS_PER_MESSAGE);
        const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
        const withTools = await estimateInputTokens({ ...chat(first), tools }, unbounded);
        expect(withTools).toBeGreaterThanOrEqual(one + TOOL_PROMPT_TOKENS);
      }),
      { numRuns: 40 },
    );
  });

  it('counts 100,000 "漢" above the 75,011 tokens the upstream counted (once billed as 25,011)', async () => {
    const body = chat('漢'.repeat(100_000));
    const estimate = await estimateInputTokens(body, textOnly(body));
    expect(estimate).toBeGreaterThanOrEqual(75_011);
    // cl100k_base spends two tokens on this ideograph; the margin is then clipped by the bytes.
    expect(estimate).toBeGreaterThanOrEqual(2 * 100_000);
    expect(estimate).toBeLessThanOrEqual(bytes(body));
  });

  it('counts 900 KB of tool definitions, which were not counted at all', async () => {
    const tools: unknown[] = [];
    for (let i = 0, size = 0; size < 900_000; i++) {
      const tool = {
        type: 'function',
        function: {
          name: `lookup_${i}`,
          description: `Finds record ${i * 7919} by id and returns the fields asked for; ${'x'.repeat(i % 40)}.`,
          parameters: {
            type: 'object',
            properties: {
              id: { type: 'string', description: `Record id, e.g. rec_${i}` },
              fields: { type: 'array', items: { type: 'string', enum: ['name', 'price', `f${i}`] } },
            },
            required: ['id'],
          },
        },
      };
      tools.push(tool);
      size += bytes(tool);
    }
    const body = { ...chat('Which tool?'), tools, tool_choice: 'auto' };
    const estimate = await estimateInputTokens(body, textOnly(body));
    expect(estimate).toBeGreaterThanOrEqual(reference(JSON.stringify(tools)));
    expect(estimate).toBeLessThanOrEqual(bytes(body));
  });

  it('counts response_format schemas and every other forwarded field', async () => {
    const schema = {
      type: 'json_schema',
      json_schema: {
        name: 'answer',
        schema: { type: 'object', properties: { verdict: { type: 'string' } } },
      },
    };
    const plain = chat('Judge this.');
    const withSchema = { ...plain, response_format: schema, metadata: { ticket: 'T-'.repeat(2_000) } };
    const unbounded = { mediaParts: 0, mediaAllowance: 0, byteBound: Number.MAX_SAFE_INTEGER };
    const base = await estimateInputTokens(plain, unbounded);
    const estimate = await estimateInputTokens(withSchema, unbounded);
    expect(estimate).toBeGreaterThanOrEqual(
      base + TOOL_PROMPT_TOKENS + reference(JSON.stringify(schema)) + reference('T-'.repeat(2_000)),
    );
  });

  it('adds the media allowance for each media part, within the hold', async () => {
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
            { type: 'image_url', image_url: { url: 'https://example.com/b.png' } },
          ],
        },
      ],
    };
    const byteBound = bytes(body) + 2 * 4_000;
    const estimate = await estimateInputTokens(body, { mediaParts: 2, mediaAllowance: 4_000, byteBound });
    expect(estimate).toBeGreaterThanOrEqual(2 * 4_000 + reference(JSON.stringify(body)));
    expect(estimate).toBeLessThanOrEqual(byteBound);
  });

  it('bills inline media by its allowance, not by the bytes of its base64', async () => {
    const payload = Buffer.alloc(300_000, 7).toString('base64');
    const text = 'What is in this picture? '.repeat(20);
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${payload}` } },
          ],
        },
      ],
    };
    // The bound as a hold sizes it: the body's bytes less the base64, plus the image's allowance.
    const byteBound = inputTokenBound(
      bytes(body),
      { inlineMediaBytes: bytes(payload), mediaTokenBound: 4_000, toolPromptTokens: 0 },
      [],
    );
    const opts = { mediaParts: 1, mediaAllowance: 4_000, byteBound };
    const estimate = await estimateInputTokens(body, opts);
    expect(estimate).toBeGreaterThanOrEqual(4_000 + reference(text));
    expect(estimate).toBeLessThanOrEqual(byteBound);
  });

  it('counts text that spells a special token as text', async () => {
    const body = chat('<|endoftext|><|im_start|>system');
    expect(await estimateInputTokens(body, textOnly(body))).toBeGreaterThan(reference('<|endoftext|>'));
  });

  it('reads counts that are negative or not numbers as zero, never returning NaN', async () => {
    const body = chat('hello');
    const opts = {
      mediaParts: Number.NaN,
      mediaAllowance: -5,
      inlineMediaBytes: Number.NaN,
      byteBound: 400.7,
    };
    const estimate = await estimateInputTokens(body, opts);
    expect(Number.isInteger(estimate)).toBe(true);
    expect(estimate).toBeGreaterThanOrEqual(reference(JSON.stringify(body)));
    expect(await estimateInputTokens(body, { ...opts, byteBound: Number.NaN })).toBe(0);
  });

  it('stops counting at the deadline and bills the bound', async () => {
    const body = chat('lorem ipsum dolor '.repeat(10_000));
    const opts = { ...textOnly(body), deadline: Date.now() - 1 };
    expect(await estimateInputTokens(body, opts)).toBe(bytes(body));
  });
});

describe('estimateOutputTokens', () => {
  it('is never below the tokenizer count of what was generated, in any script', async () => {
    await fc.assert(
      fc.asyncProperty(multilingual, async (text) => {
        expect(await estimateOutputTokens(text)).toBeGreaterThanOrEqual(reference(text));
      }),
      { numRuns: 120 },
    );
  });

  it('counts CJK and emoji by tokens, not by characters ÷ 4', async () => {
    const han = '漢字仮名交じり文'.repeat(500);
    const emoji = '😀🦊👩‍👩‍👧🇯🇵'.repeat(500);
    expect(await estimateOutputTokens(han)).toBeGreaterThanOrEqual(han.length);
    expect(await estimateOutputTokens(emoji)).toBeGreaterThanOrEqual(reference(emoji));
    expect(await estimateOutputTokens(emoji)).toBeGreaterThan(emoji.length / 4);
  });

  it('is zero for nothing generated', async () => {
    expect(await estimateOutputTokens('')).toBe(0);
  });
});

describe('pieceEnd', () => {
  const piecesOf = (text: string): string[] => {
    const pieces: string[] = [];
    for (let start = 0; start < text.length; ) {
      const end = pieceEnd(text, start);
      pieces.push(text.slice(start, end));
      start = end;
    }
    return pieces;
  };

  it('cuts text into pieces of at most 128 characters, losslessly, never inside a surrogate pair', () => {
    fc.assert(
      fc.property(multilingual, (text) => {
        const pieces = piecesOf(text);
        expect(pieces.join('')).toBe(text);
        for (const piece of pieces) {
          expect(piece.length).toBeGreaterThan(0);
          expect(piece.length).toBeLessThanOrEqual(128);
        }
        for (let i = 1; i < pieces.length; i++) {
          const previous = pieces[i - 1] ?? '';
          const splitsPair = /[\uD800-\uDBFF]$/.test(previous) && /^[\uDC00-\uDFFF]/.test(pieces[i] ?? '');
          expect(splitsPair).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('cuts just before a space, where the tokenizer splits anyway', () => {
    const text = 'word '.repeat(100);
    for (const piece of piecesOf(text).slice(1)) expect(piece.startsWith(' ')).toBe(true);
    expect(piecesOf(text).reduce((sum, piece) => sum + reference(piece), 0)).toBe(reference(text));
  });
});

describe('inputTokenBound, the hold and count_tokens alike', () => {
  const request = { inlineMediaBytes: 1_000, mediaTokenBound: 48_200, toolPromptTokens: 600 };
  it('counts text bytes, media at its allowance and the tool prompt, within the largest context window', () => {
    expect(inputTokenBound(5_000, request, [])).toBe(4_000 + 48_200 + 600);
    expect(inputTokenBound(5_000, request, [200_000, 1_000_000])).toBe(52_800);
    expect(inputTokenBound(5_000, request, [10_000, 20_000])).toBe(20_000);
    // A model that states no window reads any length: no bound from the others.
    expect(inputTokenBound(5_000, request, [10_000, undefined])).toBe(52_800);
  });
});
