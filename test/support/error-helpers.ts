import { expect } from 'vitest';
import { assertValid, validateError } from './openai-schema.js';

/** Shared by the error test files: a short prompt, a call that must throw, and the OpenAI error contract. */

export const hi = (extra = '') => [{ role: 'user' as const, content: `hi ${extra}`.trim() }];

/** Runs `call`, which must throw, and returns what it threw. */
export async function thrown(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Checks the OpenAI error contract of a raw response and returns its body. */
export async function expectErrorResponse(res: Response, status: number, code: string): Promise<ErrorBody> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  const body = assertValid(validateError, JSON.parse(text) as ErrorBody);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}
