import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, inject, it } from 'vitest';

/**
 * `npm start` as a newcomer runs it: its own DynamoDB Local, the demo upstream, printed
 * credentials that work, and a clean stop on Ctrl-C (SIGINT) that leaves no Java process behind.
 */

let child: ChildProcess | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'tiergate-data-'));
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Everything a process printed so far, both streams. */
function outputOf(proc: ChildProcess): () => string {
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  return () => out;
}

/** Resolves with the whole output once it matches `pattern`. */
function waitFor(
  proc: ChildProcess,
  output: () => string,
  pattern: RegExp,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(output())) return;
      cleanup();
      resolve(output());
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`exited with ${code} before ${pattern}:\n${output()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output()}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      proc.stdout?.off('data', check);
      proc.stderr?.off('data', check);
      proc.off('exit', onExit);
    };
    proc.stdout?.on('data', check);
    proc.stderr?.on('data', check);
    proc.once('exit', onExit);
    check();
  });
}

// The waits below are longer than the default test timeout: a loaded machine may take that long to
// start Java and the runtime. Each test gets room for all of its waits.
describe('npm start', () => {
  it('prints a URL, admin token, API key and curl line that work, and stops cleanly on SIGINT', {
    timeout: 150_000,
  }, async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      env: { ...process.env, PORT: '0', DYNAMODB_ENDPOINT: '', TIERGATE_ADMIN_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = outputOf(child);
    const out = await waitFor(child, output, /Ctrl-C stops everything/, 90_000);
    const url = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    const key = /Demo API key\s+(tg-\S+)/.exec(out)?.[1];
    const token = /Admin token\s+(\S+)/.exec(out)?.[1];
    expect(url && key && token).toBeTruthy();
    expect(out).toMatch(
      /curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions -H "Authorization: Bearer tg-/,
    );
    // The CLI and the probe find this runtime from one line, whatever its port.
    expect(out).toContain(`export TIERGATE_ADMIN_URL=${url}/admin TIERGATE_ADMIN_TOKEN=${token}\n`);

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key as string, maxRetries: 0 });
    const res = await client.chat.completions.create({
      model: 'tier-2',
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(res.model).toBe('tier-2');
    const admin = await fetch(`${url}/admin/tiers`, { headers: { authorization: `Bearer ${token}` } });
    expect(admin.status).toBe(200);
    // One access-log line per request, written when it is over.
    expect(await waitFor(child, output, /GET \/admin\/tiers 200/, 10_000)).toMatch(
      /Z POST \/v1\/chat\/completions 200 tier-2 \d+ms \$\d+\.\d{6} id=[0-9a-f]+/,
    );

    const proc = child;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    // The port is released: nothing answers any more.
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
  });
});

/** `npm start` with TIERGATE_DATA_DIR, on the test run's DynamoDB Local; resolves with its banner. */
async function startWithDataDir(
  args: string[],
): Promise<{ proc: ChildProcess; out: string; output: () => string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', ...args], {
    env: {
      ...process.env,
      PORT: '0',
      DYNAMODB_ENDPOINT: inject('dynamodbEndpoint'),
      TIERGATE_DATA_DIR: dataDir,
      TIERGATE_ADMIN_TOKEN: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  const output = outputOf(proc);
  const out = await waitFor(proc, output, /Ctrl-C stops everything/, 60_000);
  return { proc, out, output };
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGINT');
  await exited;
}

describe('npm start with TIERGATE_DATA_DIR', () => {
  it('reuses the admin token, demo account and key after a restart; --quiet turns the access log off', {
    timeout: 150_000,
  }, async () => {
    const first = await startWithDataDir([]);
    const token = /Admin token\s+(\S+)/.exec(first.out)?.[1];
    const key = /Demo API key\s+(tg-\S+)/.exec(first.out)?.[1];
    const account = /account (acct_\S+),/.exec(first.out)?.[1];
    expect(token && key && account).toBeTruthy();
    await stop(first.proc);
    const file = join(dataDir, 'tiergate-local.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      adminToken: token,
      demo: { accountId: account, apiKey: key },
    });

    const second = await startWithDataDir(['--quiet']);
    expect(second.out).toContain(`Admin token    ${token}`);
    expect(second.out).toContain(`Demo API key   ${key}   (account ${account},`);
    expect(second.out).toContain(`reused from ${dataDir}`);
    expect(second.out).toContain('Access log off (--quiet).');
    const url = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(second.out)?.[1];
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key as string, maxRetries: 0 });
    const res = await client.chat.completions.create({
      model: 'tier-1',
      messages: [{ role: 'user', content: 'Hello again tokens:2' }],
    });
    expect(res.model).toBe('tier-1');
    await stop(second.proc);
    expect(second.output()).not.toMatch(/POST \/v1\/chat\/completions/);
  });
});
