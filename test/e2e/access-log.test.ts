import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { AccessLogEntry } from '../../local/access-log.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { admin, startTestRuntime } from '../support/runtime.js';

/** The local runtime's access log (`npm start` prints it; test/e2e/start.test.ts checks that and --quiet). */

async function withRuntime<T>(
  options: Parameters<typeof startTestRuntime>[0],
  run: (runtime: LocalRuntime) => Promise<T>,
): Promise<T> {
  const runtime = await startTestRuntime(options);
  try {
    return await run(runtime);
  } finally {
    await runtime.close();
  }
}

const complete = (runtime: LocalRuntime, content: string) =>
  new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: runtime.apiKey, maxRetries: 0 }).chat.completions.create(
    {
      model: 'balance',
      max_tokens: 8,
      messages: [{ role: 'user', content }],
    },
  );

describe('access log', () => {
  it('writes one line per request with status, tier, time and charge, and never a key or prompt', async () => {
    const entries: AccessLogEntry[] = [];
    const prompt = `secret prompt ${randomBytes(4).toString('hex')} tokens:3`;
    await withRuntime({ accessLog: (entry) => entries.push(entry) }, async (runtime) => {
      const res = await complete(runtime, prompt);
      const bad = await fetch(`${runtime.url}/v1/models?key=${runtime.apiKey}`, {
        headers: { authorization: 'Bearer tg-not-a-real-key' },
      });
      expect(bad.status).toBe(401);
      expect((await admin(runtime, 'GET', '/admin/tiers')).status).toBe(200);

      const [completion, refused, tiers] = entries;
      expect(entries).toHaveLength(3);
      expect(completion).toMatchObject({
        method: 'POST',
        path: '/v1/chat/completions',
        status: 200,
        completed: true,
        tier: 'tier-2',
        requestId: res.id.replace(/^chatcmpl-/, ''),
      });
      const logged = await admin(runtime, 'GET', `/admin/requests?accountId=${runtime.accountId}`);
      const charge = (logged.json.requests as Array<{ chargeMicros: number }>)[0]?.chargeMicros;
      expect(completion?.chargeMicros).toBe(charge);
      expect(refused).toMatchObject({ path: '/v1/models', status: 401, chargeMicros: undefined });
      expect(tiers).toMatchObject({ method: 'GET', path: '/admin/tiers', status: 200 });
      const text = JSON.stringify(entries);
      expect(text).not.toContain(runtime.apiKey);
      expect(text).not.toContain(runtime.adminToken);
      expect(text).not.toContain('secret prompt');
    });
  });
});
