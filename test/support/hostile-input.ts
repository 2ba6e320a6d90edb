import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request } from 'node:http';
import { afterAll, beforeAll, expect } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../shared/config.js';
import { assertValid, validateError } from './openai-schema.js';
import { admin, startTestRuntime } from './runtime.js';

/**
 * Shared by the hostile-input test files: raw HTTP sends, the OpenAI error-shape check, account
 * state and the request log. Every generated case is invalid by construction (a bad key or a bad
 * body), so none may cost money.
 */

/**
 * The runtime of the calling test file, set by `useHostileInputRuntime`'s beforeAll: read it inside
 * tests and hooks only. Each test file has its own copy of this module.
 */
export let runtime: LocalRuntime;

export const MAX_BODY_BYTES = DEFAULT_MAX_BODY_BYTES;
export const RUNS = 60;

/** Starts one runtime for the calling file (beforeAll) and closes it afterwards. */
export function useHostileInputRuntime(): void {
  beforeAll(async () => {
    runtime = await startTestRuntime();
  });
  afterAll(async () => {
    await runtime?.close();
  });
}

export interface AccountState {
  balanceMicros: number;
  heldMicros: number;
  keys: unknown[];
}

export async function accountState(accountId: string): Promise<AccountState> {
  const res = await admin(runtime, 'GET', `/admin/accounts/${accountId}`);
  expect(res.status).toBe(200);
  return res.json as unknown as AccountState;
}

export async function requestLog(accountId: string): Promise<Array<Record<string, unknown>>> {
  const res = await admin(runtime, 'GET', `/admin/requests?accountId=${accountId}&limit=1000`);
  expect(res.status).toBe(200);
  return (res.json as { requests: Array<Record<string, unknown>> }).requests;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface SendOptions {
  method?: string;
  path?: string;
  /** Default: the demo key; `null` sends no Authorization header. */
  auth?: string | string[] | null;
  headers?: OutgoingHttpHeaders;
  body?: string | Uint8Array;
  /** Send the body in pieces with chunked transfer encoding, without a content-length. */
  chunked?: boolean;
}

/**
 * One raw HTTP/1.1 exchange with node:http, which (unlike fetch) sends any bytes, repeated and
 * oversized headers as given. A response that arrives while the body is still being written (413)
 * wins over the write error that the server's early close may cause.
 */
export function send(opts: SendOptions = {}): Promise<Reply> {
  const url = new URL(runtime.url);
  const auth = opts.auth === undefined ? `Bearer ${runtime.apiKey}` : opts.auth;
  // Typed loosely: node:http sends an array value as repeated header lines, Authorization included.
  const headers: Record<string, string | string[] | number | undefined> = {
    'content-type': 'application/json',
    ...(auth === null ? {} : { authorization: auth }),
    ...opts.headers,
  };
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : opts.body;
  if (body && !opts.chunked) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    let replied = false;
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/v1/chat/completions',
        headers: headers as OutgoingHttpHeaders,
      },
      (res) => {
        replied = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no response within 30 s')));
    req.on('error', (err) => {
      if (!replied) reject(err);
    });
    if (!body) return void req.end();
    if (!opts.chunked) return void req.end(body);
    const piece = 64 * 1024;
    for (let offset = 0; offset < body.length; offset += piece)
      req.write(body.subarray(offset, offset + piece));
    req.end();
  });
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** A 4xx in OpenAI's error shape, with JSON content type and a request id; returns the error. */
export function expectClientError(
  reply: Reply,
  expected: { status?: number; code?: string; param?: string } = {},
) {
  const label = `${reply.status} ${reply.text.slice(0, 300)}`;
  expect(reply.status, label).toBeGreaterThanOrEqual(400);
  expect(reply.status, label).toBeLessThan(500);
  if (expected.status !== undefined) expect(reply.status, label).toBe(expected.status);
  expect(reply.headers['content-type'] ?? '(none)', label).toMatch(/^application\/json/);
  expect(reply.headers['x-request-id'], label).toBeTruthy();
  const body = assertValid(validateError, JSON.parse(reply.text) as ErrorBody);
  if (expected.code !== undefined) expect(body.error.code, label).toBe(expected.code);
  if (expected.param !== undefined) expect(body.error.param, label).toBe(expected.param);
  return body.error;
}

export const MESSAGES = [{ role: 'user', content: 'hi tokens:1' }];
/** A valid body: sent only with keys that must be refused, or with one field made invalid. */
export const VALID = { model: 'tier-1', messages: MESSAGES, max_tokens: 16 };
export const VALID_TEXT = JSON.stringify(VALID);
/** Valid JSON, valid key, invalid request: what a header or key variant must not change. */
export const EMPTY_MESSAGES = JSON.stringify({ model: 'tier-1', messages: [] });

export const isJsonObject = (text: string): boolean => {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
export const isUtf8 = (bytes: Uint8Array): boolean => {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

/** A funded account of its own, for cases that may slip through and cost money if the gateway errs. */
export async function ownAccount(
  name: string,
): Promise<{ accountId: string; key: string; before: AccountState }> {
  const created = await admin(runtime, 'POST', '/admin/accounts', { name, creditUsd: 1 });
  expect(created.status).toBe(201);
  const accountId = (created.json.account as { id: string }).id;
  return {
    accountId,
    key: (created.json.apiKey as { key: string }).key,
    before: await accountState(accountId),
  };
}

export async function expectUntouched(accountId: string, before: AccountState): Promise<void> {
  await runtime.bus.drain();
  const after = await accountState(accountId);
  expect(after.balanceMicros).toBe(before.balanceMicros);
  expect(after.heldMicros).toBe(0);
  expect(await requestLog(accountId)).toEqual([]);
}
