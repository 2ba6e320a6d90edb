import { readFileSync } from 'node:fs';
import { TIER_IDS, type TierId } from '../../shared/domain/catalog.js';
import { fnv1a, type RouteInput } from '../../shared/routing/features.js';
import { routeInputOf, type Turn } from '../../shared/routing/text.js';

/**
 * The labelled set: one JSON object a line, `tier` plus the request's routing view (a prompt, and
 * optionally a system prompt, earlier user turns, tools, media, a JSON schema, a reasoning effort).
 * Every fifth example by the hash of its prompt is held out for evaluation, so the split does not
 * move when examples are added elsewhere.
 */
export interface LabelledExample {
  tier: TierId;
  prompt: string;
  system?: string;
  history?: string[];
  tools?: boolean;
  media?: boolean;
  jsonSchema?: boolean;
  reasoning?: string;
}

export const DEFAULT_DATASET = new URL('../../data/router/labelled.jsonl', import.meta.url);
const HELD_OUT_BUCKETS = 5;

export function parseDataset(text: string): LabelledExample[] {
  return text
    .split('\n')
    .map((line, i) => ({ line: line.trim(), number: i + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, number }) => {
      const example = JSON.parse(line) as LabelledExample;
      if (!TIER_IDS.includes(example.tier) || typeof example.prompt !== 'string') {
        throw new Error(`line ${number}: needs "tier" (tier-1 … tier-4) and "prompt"`);
      }
      return example;
    });
}

export const loadDataset = (path: URL | string = DEFAULT_DATASET): LabelledExample[] =>
  parseDataset(readFileSync(path, 'utf8'));

export const isHeldOut = (example: LabelledExample): boolean =>
  fnv1a(example.prompt) % HELD_OUT_BUCKETS === 0;

export function split(examples: LabelledExample[]): { train: LabelledExample[]; heldOut: LabelledExample[] } {
  return { train: examples.filter((e) => !isHeldOut(e)), heldOut: examples.filter(isHeldOut) };
}

export function toRouteInput(example: LabelledExample): RouteInput {
  // As a surface builds it from a conversation (shared/routing/text.ts), so training and
  // evaluation read requests as the gateway does.
  const turns: Turn[] = [
    ...(example.system ? [{ role: 'system' as const, text: example.system }] : []),
    ...(example.history ?? []).map((text) => ({ role: 'user' as const, text })),
    { role: 'user', text: example.prompt },
  ];
  return routeInputOf(turns, {
    tools: example.tools === true,
    media: example.media === true,
    jsonSchema: example.jsonSchema === true,
    reasoning: example.reasoning,
  });
}
