import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  expectClientError,
  expectUntouched,
  ownAccount,
  send,
  useHostileInputRuntime,
  VALID,
  VALID_TEXT,
} from '../support/hostile-input.js';
import {
  KIND_VALUES,
  type Kind,
  openAiRequestValidator,
  PARAM_TYPES,
} from '../support/openai-param-types.js';

/**
 * Hostile input that may slip through and cost money if the gateway errs, so each case runs on a
 * funded account of its own, which must come out untouched.
 */

useHostileInputRuntime();

describe('input the gateway must refuse, each on an account of its own', () => {
  it('refuses a key followed by a non-breaking space, which is not HTTP whitespace', async () => {
    const { accountId, key, before } = await ownAccount('nbsp');
    // U+00A0 travels as the latin1 byte 0xA0. HTTP's whitespace is SP and HTAB only (RFC 9110 5.6.3).
    for (const auth of [`Bearer ${key}\u00a0`, `Bearer\u00a0${key}`, `Bearer ${key}\u00a0\u00a0`]) {
      expectClientError(await send({ body: VALID_TEXT, auth }), { status: 401, code: 'invalid_api_key' });
    }
    await expectUntouched(accountId, before);
  });

  it('answers a wrong type for every OpenAI parameter with a 400 naming it, and charges nothing', async () => {
    const { accountId, key, before } = await ownAccount('wrong types');
    const openAi = openAiRequestValidator();
    // The table covers exactly OpenAI's parameters, and the base body is one OpenAI accepts.
    expect(Object.keys(PARAM_TYPES).sort()).toEqual([...openAi.names].sort());
    expect(openAi.validate(VALID)).toBe(true);

    const accepted: string[] = [];
    for (const [name, kinds] of Object.entries(PARAM_TYPES)) {
      const wrong = fc.oneof(
        ...(Object.keys(KIND_VALUES) as Kind[]).filter((k) => !kinds.includes(k)).map((k) => KIND_VALUES[k]),
      );
      const result = await fc.check(
        fc.asyncProperty(wrong, async (value) => {
          const body = { ...VALID, [name]: value };
          // The oracle: OpenAI's own schema refuses this body.
          expect(openAi.validate(body), `${name}=${JSON.stringify(value)}`).toBe(false);
          const reply = await send({ body: JSON.stringify(body), auth: `Bearer ${key}` });
          expectClientError(reply, { status: 400, code: 'invalid_request', param: name });
        }),
        { numRuns: 6, endOnFailure: true },
      );
      if (result.failed) {
        const [value] = (result.counterexample ?? []) as unknown[];
        accepted.push(`${name}=${JSON.stringify(value)}`);
      }
    }
    expect(accepted, 'parameters whose wrong type was not refused with a 400 naming them').toEqual([]);
    await expectUntouched(accountId, before);
  });
});
