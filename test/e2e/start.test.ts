import { type ChildProcess, spawn } from 'node:child_process';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * `npm start` as a newcomer runs it: its own DynamoDB Local, the demo upstream, printed
 * credentials that work, and a clean stop on Ctrl-C (SIGINT) that leaves no Java process behind.
 */

let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
});

function waitFor(proc: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${out}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}:\n${out}`));
    });
  });
}

describe('npm start', () => {
  it('prints a URL, admin token, API key and curl line that work, and stops cleanly on SIGINT', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      env: { ...process.env, PORT: '0', DYNAMODB_ENDPOINT: '', TIERGATE_ADMIN_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = await waitFor(child, /Ctrl-C stops everything/, 90_000);
    const url = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    const key = /Demo API key\s+(tg-\S+)/.exec(out)?.[1];
    const token = /Admin token\s+(\S+)/.exec(out)?.[1];
    expect(url && key && token).toBeTruthy();
    expect(out).toMatch(
      /curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions -H "Authorization: Bearer tg-/,
    );

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key as string, maxRetries: 0 });
    const res = await client.chat.completions.create({
      model: 'tier-2',
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(res.model).toBe('tier-2');
    const admin = await fetch(`${url}/admin/tiers`, { headers: { authorization: `Bearer ${token}` } });
    expect(admin.status).toBe(200);

    const proc = child;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    // The port is released: nothing answers any more.
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
  });
});
