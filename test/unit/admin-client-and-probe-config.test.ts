import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient, NetworkError } from '../../shared/admin-client/client.js';
import { defaultCredentialSource } from '../../shared/admin-client/sigv4.js';
import { MAX_PROBE_INTERVAL_MINUTES, probeIntervalMinutes } from '../../shared/config.js';

/** A server that reads requests and never answers them, as a hung admin endpoint does. */
let silent: Server;
let silentUrl: string;

beforeAll(async () => {
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(async () => {
  silent.closeAllConnections();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

describe('the admin client', () => {
  it('gives up on a call that gets no answer, with a NetworkError that says so', async () => {
    const client = new AdminClient({
      baseUrl: silentUrl,
      token: 'tga-test',
      fetch: globalThis.fetch,
      credentials: defaultCredentialSource({}),
      timeoutMs: 200,
    });
    const err = await client.send({ method: 'GET', path: '/admin/tiers' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).message).toBe(`cannot reach ${silentUrl}/admin/tiers: no answer in time`);
  });
});

describe('PROBE_INTERVAL_MINUTES', () => {
  it('is 360 by default, 0 for off, and at most a day, as the stack allows', () => {
    expect(probeIntervalMinutes({})).toBe(360);
    expect(probeIntervalMinutes({ PROBE_INTERVAL_MINUTES: '0' })).toBe(0);
    expect(probeIntervalMinutes({ PROBE_INTERVAL_MINUTES: '15' })).toBe(15);
    // Beyond 2^31 ms a timer fires at once: 35,792 minutes would run the probe back to back.
    expect(probeIntervalMinutes({ PROBE_INTERVAL_MINUTES: '35792' })).toBe(MAX_PROBE_INTERVAL_MINUTES);
    expect(MAX_PROBE_INTERVAL_MINUTES * 60_000).toBeLessThan(2 ** 31);
  });
});
