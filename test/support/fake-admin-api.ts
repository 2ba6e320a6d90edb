import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { type CliIo, runCli } from '../../cli/main.js';

/** Shared by the CLI test files: a fake admin API, a CLI runner, and sample answers. */

export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Canned {
  status: number;
  body?: unknown;
}

/**
 * The fake admin API: canned answers by "METHOD /path", every request recorded. `baseUrl` and
 * `port` are set by `useFakeAdminApi`'s beforeAll. Each test file has its own copy of this module.
 */
export const canned = new Map<string, Canned>();
export const recorded: Recorded[] = [];
let server: Server;
export let baseUrl: string;
export let port: number;

/** Starts the fake admin API for the calling file (beforeAll), forgets its answers and requests after each test, and closes it afterwards. */
export function useFakeAdminApi(): void {
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        recorded.push({
          method: req.method ?? '',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const answer = canned.get(`${req.method} ${url.pathname}`) ?? {
          status: 404,
          body: {
            error: {
              message: 'no canned answer',
              type: 'invalid_request_error',
              param: null,
              code: 'not_found',
            },
          },
        };
        if (answer.body === undefined) {
          res.writeHead(answer.status).end();
        } else {
          res
            .writeHead(answer.status, { 'content-type': 'application/json' })
            .end(JSON.stringify(answer.body));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    baseUrl = `http://127.0.0.1:${port}/admin`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  afterEach(() => {
    canned.clear();
    recorded.length = 0;
  });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(argv: string[], io: Partial<CliIo> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: {},
    ...io,
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  });
  return { code, stdout, stderr };
}

/** Runs against the fake server with an admin token. */
export function admin(...argv: string[]): Promise<Run> {
  return run(['--url', baseUrl, '--token', 'admin-secret', ...argv]);
}

export function only(): Recorded {
  expect(recorded).toHaveLength(1);
  return recorded[0] as Recorded;
}

export function jsonBody(r: Recorded): unknown {
  return JSON.parse(r.body);
}

export const ACCOUNT = {
  id: 'acc_1',
  name: 'Acme',
  createdAt: '2025-01-02T03:04:05.000Z',
  balanceMicros: 1_500_000,
  heldMicros: 250_000,
  debtMicros: 40_000,
  keys: [
    { id: 'key_a', name: 'ci', status: 'active', createdAt: '2025-01-02T03:04:05.000Z', rpm: 60 },
    {
      id: 'key_b',
      name: 'batch',
      status: 'revoked',
      createdAt: '2025-01-03T00:00:00.000Z',
      dailyBudgetMicros: 2_000_000,
    },
  ],
};

export const TIERS = {
  version: 4,
  publishedAt: '2025-02-01T00:00:00.000Z',
  catalog: {
    tiers: {
      'tier-2': {
        models: [{ id: 'openai/gpt-4.1-mini', inputUsdPerMTok: 0.4, outputUsdPerMTok: 1.6 }],
        price: {
          inputUsdPerMTok: 0.5,
          outputUsdPerMTok: 2,
          cachedInputUsdPerMTok: 0.125,
          cacheWriteUsdPerMTok: 0.625,
        },
        maxOutputTokens: 8192,
        ttftTimeoutMs: 5000,
        totalTimeoutMs: 60000,
      },
      'tier-1': {
        models: [
          { id: 'google/gemini-flash', inputUsdPerMTok: 0.1, outputUsdPerMTok: 0.4 },
          { id: 'meta/llama-8b', inputUsdPerMTok: 0.05, outputUsdPerMTok: 0.08 },
        ],
        price: { inputUsdPerMTok: 0.15, outputUsdPerMTok: 0.6 },
        maxOutputTokens: 4096,
        ttftTimeoutMs: 3000,
        totalTimeoutMs: 30000,
      },
    },
  },
};
