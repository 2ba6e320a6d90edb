import { describe, expect, it } from 'vitest';
import { duplicateKeyPath } from '../../shared/admin/duplicate-keys.js';

describe('duplicate keys in an admin body', () => {
  it('finds the first key given twice, with its path', () => {
    const cases: Array<[string, string[] | undefined]> = [
      ['{"name":"a","name":"b"}', ['name']],
      ['{"a":{"x":1,"y":2,"x":3}}', ['a', 'x']],
      ['{"a":[{"x":1},{"x":1,"x":2}]}', ['a', '1', 'x']],
      ['{"tiers":{"tier-1":{},"tier-2":{},"tier-1":{}}}', ['tiers', 'tier-1']],
      // The same key spelled with an escape is the same key.
      ['{"name":"a","\\u006eame":"b"}', ['name']],
      ['{ "a" : 1 ,\n "a" : 2 }', ['a']],
    ];
    for (const [text, path] of cases) {
      JSON.parse(text); // every case is valid JSON
      expect(duplicateKeyPath(text), text).toEqual(path);
    }
  });

  it('finds none where keys repeat only across objects, or inside strings', () => {
    for (const text of [
      '{}',
      '{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}',
      '{"a":"\\"a\\":1,{\\"a\\":2}","b":"}{,[]"}',
      '{"a":[],"b":{},"c":[[],{}],"d":"x"}',
      '{"a\\\\":1,"a":2}',
      '[{"a":1},{"a":2}]',
    ]) {
      JSON.parse(text);
      expect(duplicateKeyPath(text), text).toBeUndefined();
    }
  });
});
