import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { messagesRouteInput } from '../../shared/dialects/anthropic-messages/route-input.js';
import { chatRouteInput } from '../../shared/dialects/openai-chat/route-input.js';
import { TIER_IDS } from '../../shared/domain/catalog.js';
import { decide } from '../../shared/routing/classifier.js';
import { extractFeatures, firstWords, fnv1a } from '../../shared/routing/features.js';
import { Router } from '../../shared/routing/router.js';
import {
  applyRules,
  DEEP_CONVERSATION_TURNS,
  LARGE_PROMPT_CHARS,
  RULES,
} from '../../shared/routing/rules.js';
import { fixedModel, input } from '../support/routing-helpers.js';

describe('features', () => {
  it('hashes with FNV-1a', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
  });

  it('hashes each n-gram as its name (w:, b:, c: with the word padded by spaces)', () => {
    const dim = 1 << 20;
    const bucket = (name: string) => fnv1a(name) & (dim - 1);
    const f = extractFeatures(input({ prompt: 'Ab cd' }), dim);
    for (const name of ['w:ab', 'w:cd', 'b:ab cd', 'c: ab', 'c:ab ', 'c: cd', 'c:cd ', 'bias'])
      expect(f.indices).toContain(bucket(name));
    // Earlier turns and the system prompt have their own prefixes.
    const g = extractFeatures(input({ prompt: 'x', system: 'Be brief', history: ['Hi there'] }), dim);
    for (const name of ['sw:brief', 'sb:be brief', 'hw:hi', 'hb:hi there', 'hc:the'])
      expect(g.indices).toContain(bucket(name));
  });

  it('adds every pair of shape, cue and flag features as a feature of its own', () => {
    const dim = 1 << 20;
    // An empty prompt marks its length and its turns; each flag marks one more.
    const one = extractFeatures(input({ prompt: '', tools: true }), dim);
    // 3 marks (len, turns, tools), their 3 pairs, and the bias.
    expect(one.indices).toHaveLength(3 + 3 + 1);
    const three = extractFeatures(input({ prompt: '', tools: true, media: true, jsonSchema: true }), dim);
    // 5 marks, their 10 pairs, and the bias.
    expect(three.indices).toHaveLength(5 + 10 + 1);
    expect(three.indices).toEqual(expect.arrayContaining(one.indices));
  });

  it('scores the same request the same way twice (no state left between calls)', () => {
    const a = extractFeatures(input({ prompt: 'Prove that 2^n > n^2 for n >= 5.' }), 4096);
    extractFeatures(input({ prompt: 'Classify this ticket.', history: ['Design a payments system'] }), 4096);
    expect(extractFeatures(input({ prompt: 'Prove that 2^n > n^2 for n >= 5.' }), 4096)).toEqual(a);
  });

  it('gives a unit-length vector of sorted buckets within the dimension', () => {
    const f = extractFeatures(input({ prompt: 'Prove that the square root of 2 is irrational.' }), 1024);
    expect(f.indices).toEqual([...f.indices].sort((a, b) => a - b));
    expect(f.indices.every((i) => i >= 0 && i < 1024)).toBe(true);
    expect(f.values.reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 10);
  });

  it('reads text without spaces (character trigrams) and the earlier turns', () => {
    const cjk = extractFeatures(input({ prompt: '请把这句话翻译成英文' }), 4096);
    expect(cjk.indices.length).toBeGreaterThan(5);
    const alone = extractFeatures(input({ prompt: 'yes' }), 4096);
    const withHistory = extractFeatures(
      input({ prompt: 'yes', history: ['Design a payments system'] }),
      4096,
    );
    expect(withHistory.indices.length).toBeGreaterThan(alone.indices.length);
  });
});

describe('the words the classifier reads', () => {
  // The reference: lower-case the whole text, take its first 400 words.
  const naive = (text: string): string[] => (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 400);

  it('are the first 400 words of the whole text lower-cased, though only a start of it is read', () => {
    const long = (n: number) => `${'x'.repeat(n)} `;
    const cases = [
      'Short prompt, Mixed CASE.',
      'word '.repeat(5_000), // many words: the first 400
      // The 400th word across the cut at 8,192 characters: 399 words in 8,185, then it.
      `${'a'.repeat(224)} ${`${'b'.repeat(19)} `.repeat(398)}STRADDLING the cut`,
      long(3_000).repeat(30), // few, long words: read from longer and longer starts
      `${'ΟΔΟΣ '.repeat(1_638)}ΟΔΟΣ ΣΟΦΟΣ`, // final sigma near the cut
      `${'İstanbul '.repeat(950)}İZMİR`, // lower-casing that changes the length
      // The 400th word ends at the cut, before an astral letter or a sigma the cut would split off.
      `${'w'.repeat(19)} `.repeat(399) + `${'x'.repeat(211)}\uD835\uDC00bc more words here`,
      `${'w'.repeat(19)} `.repeat(399) + `${'x'.repeat(210)}Σ'ΑΒ more words`,
    ];
    for (const text of cases) expect(firstWords(text)).toEqual(naive(text));
    fc.assert(
      fc.property(fc.string({ maxLength: 20_000, unit: 'grapheme' }), (text) => {
        expect(firstWords(text)).toEqual(naive(text));
      }),
      { numRuns: 50 },
    );
  });
});

describe('the conservative decision', () => {
  it('goes up to the lowest tier that leaves at most the risk of a higher one, never down', () => {
    expect(decide([0.5, 0.1, 0.2, 0.2], { maxDownRisk: 0.3, minConfidence: 0 }).tier).toBe('tier-3');
    expect(decide([0.5, 0.1, 0.2, 0.2], { maxDownRisk: 0.45, minConfidence: 0 }).tier).toBe('tier-2');
    expect(decide([0.5, 0.1, 0.2, 0.2], { maxDownRisk: 0.6, minConfidence: 0 }).tier).toBe('tier-1');
    expect(decide([0.05, 0.05, 0.1, 0.8], { maxDownRisk: 0, minConfidence: 0 }).tier).toBe('tier-4');
  });

  it('answers at least tier-2 below the confidence threshold', () => {
    const unsure = decide([0.45, 0.4, 0.1, 0.05], { maxDownRisk: 1, minConfidence: 0.6 });
    expect(unsure).toMatchObject({ tier: 'tier-2', unsure: true, likely: 'tier-1' });
    const sure = decide([0.7, 0.2, 0.05, 0.05], { maxDownRisk: 1, minConfidence: 0.6 });
    expect(sure).toMatchObject({ tier: 'tier-1', unsure: false });
  });

  it('never answers below the most likely tier (property)', () => {
    const probs = fc
      .array(fc.double({ min: 0.001, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 })
      .map((xs) => xs.map((x) => x / xs.reduce((a, b) => a + b, 0)));
    fc.assert(
      fc.property(
        probs,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (p, risk, conf) => {
          const d = decide(p, { maxDownRisk: risk, minConfidence: conf });
          const likely = p.indexOf(Math.max(...p));
          const chosen = TIER_IDS.indexOf(d.tier);
          expect(chosen).toBeGreaterThanOrEqual(likely);
          // What is left above the chosen tier is within the risk (tier-4 has nothing above it).
          const above = p.slice(chosen + 1).reduce((a, b) => a + b, 0);
          expect(above).toBeLessThanOrEqual(risk + 1e-9);
          expect(d.confidence).toBeGreaterThan(0);
          expect(d.confidence).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});

describe('rules', () => {
  it('each rule names itself and its tier', () => {
    expect(RULES.hint(input({ system: 'You help. tier-hint: intelligence' }))).toEqual({
      rule: 'hint',
      tier: 'tier-3',
      kind: 'exact',
    });
    expect(RULES.hint(input({ system: 'tier_hint=tier-1' }))?.tier).toBe('tier-1');
    expect(RULES.hint(input({ system: 'tier-hint: galaxy-brain' }))).toBeUndefined();
    expect(RULES.reasoning(input({ reasoning: 'high' }))).toEqual({
      rule: 'reasoning',
      tier: 'tier-4',
      kind: 'exact',
    });
    expect(RULES.reasoning(input({ reasoning: 'minimal' }))).toBeUndefined();
    expect(RULES.tools(input({ tools: true }))).toEqual({ rule: 'tools', tier: 'tier-2', kind: 'floor' });
    expect(RULES.media(input({ media: true }))?.tier).toBe('tier-2');
    expect(RULES.json_schema(input({ jsonSchema: true }))?.tier).toBe('tier-2');
    expect(RULES.size(input({ chars: LARGE_PROMPT_CHARS + 1 }))?.rule).toBe('size');
    expect(RULES.size(input({ chars: LARGE_PROMPT_CHARS }))).toBeUndefined();
    const deep = Array.from({ length: DEEP_CONVERSATION_TURNS }, () => 'more');
    expect(RULES.depth(input({ history: deep }))?.rule).toBe('depth');
    expect(RULES.depth(input({ history: deep.slice(1) }))).toBeUndefined();
  });

  it('an exact rule wins over floors', () => {
    expect(applyRules(input({ tools: true, reasoning: 'low' }))?.rule).toBe('reasoning');
    expect(applyRules(input({ tools: true, media: true }))?.rule).toBe('tools');
    expect(applyRules(input())).toBeUndefined();
  });
});

describe('the router', () => {
  const sureTier1 = fixedModel([5, 0, 0, 0]);
  const sureTier3 = fixedModel([0, 0, 5, 0]);

  it('raises the classifier to a rule floor and says which rule', () => {
    expect(new Router(sureTier1).route(input({ tools: true }))).toMatchObject({
      tier: 'tier-2',
      reason: 'rule:tools',
    });
  });

  it('keeps a classifier answer above the floor and reports its confidence', () => {
    const d = new Router(sureTier3).route(input({ tools: true }));
    expect(d).toMatchObject({ tier: 'tier-3', floor: 'tier-2', ambiguous: false });
    expect(d.reason).toMatch(/^model:0\.9\d$/);
  });

  it('follows an exact rule without consulting the classifier', () => {
    expect(new Router(sureTier1).route(input({ system: 'tier-hint: reasoning' }))).toEqual({
      tier: 'tier-4',
      reason: 'rule:hint',
      ambiguous: false,
    });
  });

  it('marks a decision that went up as ambiguous', () => {
    const d = new Router(fixedModel([1, 0.5, 0.2, 0], { maxDownRisk: 0.35 })).route(input());
    expect(d).toMatchObject({ tier: 'tier-2', ambiguous: true });
  });
});

describe('what the dialects give the router', () => {
  it('chat completions: system and developer text, the last user turn, history, flags', () => {
    const got = chatRouteInput(
      {
        model: 'auto',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'tier-hint: speed' }] },
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'ok' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'second' },
              { type: 'image_url', image_url: { url: 'x' } },
            ],
          },
        ],
        tools: [{ type: 'function', function: { name: 'f' } }],
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } },
        reasoning_effort: 'medium',
      },
      1,
    );
    expect(got).toEqual({
      system: 'Be brief.\ntier-hint: speed',
      prompt: 'second',
      history: ['first'],
      chars: 'Be brief.tier-hint: speedfirstoksecond'.length,
      tools: true,
      media: true,
      jsonSchema: true,
      reasoning: 'medium',
    });
  });

  it('Messages: the system blocks, tool results as text, thinking as a reasoning request', () => {
    const got = messagesRouteInput(
      {
        system: [{ type: 'text', text: 'tier-hint: intelligence' }],
        thinking: { type: 'enabled', budget_tokens: 2000 },
        tool_choice: { type: 'auto' },
        messages: [
          { role: 'user', content: 'look it up' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: '42' }] }],
          },
        ],
      },
      0,
    );
    expect(got).toMatchObject({
      system: 'tier-hint: intelligence',
      prompt: '42',
      history: ['look it up'],
      tools: true,
      media: false,
      reasoning: 'thinking',
    });
  });
});
