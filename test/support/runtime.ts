import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { type LocalRuntime, type LocalRuntimeOptions, startLocalRuntime } from '../../local/runtime.js';

/** A local runtime on a free port, with its own tables in the run's shared DynamoDB Local. */
export function startTestRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  return startLocalRuntime({
    port: 0,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    tablePrefix: `t${randomBytes(6).toString('hex')}`,
    adminToken: 'test-admin-token',
    ...options,
    // SILENT unless the run asks for logs (vitest.config.ts): tests provoke errors on purpose.
    env: { POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT', ...options.env },
  });
}

/** Calls the local admin API; returns status and parsed JSON. */
export async function admin(
  runtime: LocalRuntime,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
