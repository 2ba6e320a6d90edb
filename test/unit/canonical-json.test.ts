import { describe, expect, it } from 'vitest';
import { canonicalBodyHash, canonicalJson } from '../../shared/domain/canonical-json.js';

/** The body hash that decides whether a repeat with an Idempotency-Key is the same request. */

const ROUTE = 'POST /v1/chat/completions';

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: [{ y: true, x: null }, 'z'], c: { e: 'é', d: 1.5 } })).toBe(
      '{"a":[{"x":null,"y":true},"z"],"b":1,"c":{"d":1.5,"e":"é"}}',
    );
  });

  it('gives equal JSON bodies one hash whatever their key order, spacing, escapes or number form', () => {
    const hashes = [
      '{"model":"tier-1","messages":[{"role":"user","content":"Hi"}],"temperature":1}',
      '{ "temperature": 1.0, "messages": [ { "content": "H\\u0069", "role": "user" } ], "model": "tier-1" }',
      '\n{"messages":[{"role":"user","content":"Hi"}],"model":"tier-\\u0031","temperature":10e-1}\n',
    ].map((body) => canonicalBodyHash(ROUTE, body));
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(hashes).size).toBe(1);
  });

  it('tells different bodies, array orders and routes apart', () => {
    const base = canonicalBodyHash(ROUTE, '{"messages":["a","b"],"model":"tier-1"}');
    expect(canonicalBodyHash(ROUTE, '{"messages":["b","a"],"model":"tier-1"}')).not.toBe(base);
    expect(canonicalBodyHash(ROUTE, '{"messages":["a","b"],"model":"tier-2"}')).not.toBe(base);
    expect(canonicalBodyHash(ROUTE, '{"messages":["a","b"],"model":"tier-1","n":1}')).not.toBe(base);
    expect(canonicalBodyHash('POST /v1/messages', '{"messages":["a","b"],"model":"tier-1"}')).not.toBe(base);
  });

  it('has no hash for a body the routes refuse: empty, not JSON, not an object, nested too deep', () => {
    for (const body of [
      '',
      '  ',
      '{"model":',
      '[1,2]',
      '"text"',
      `${'{"a":'.repeat(80)}1${'}'.repeat(80)}`,
    ]) {
      expect(canonicalBodyHash(ROUTE, body), body.slice(0, 20)).toBeUndefined();
    }
  });
});
