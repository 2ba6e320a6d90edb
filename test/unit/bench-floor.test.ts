import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aboveFloor, atWall, cpuSlope, idleRate } from '../../bench/floor.js';
import { endToEnd, type FloorProxy, startFloorProxy } from '../../bench/floor-proxy.js';
import { parseSchedstat, parseStatTicks } from '../../bench/meters.js';

describe('bench CPU slope', () => {
  it('splits per-request CPU into a base and a per-chunk cost', () => {
    // 10 requests of 16 chunks at 2,000 µs each; 10 of 256 chunks at 14,000 µs each: 50 µs a chunk.
    const s = cpuSlope(
      { requests: 10, cpuUs: 20_000, chunks: 16, wallMs: 1_000 },
      { requests: 10, cpuUs: 140_000, chunks: 256, wallMs: 1_000 },
    );
    expect(s.cpuUsPerChunk).toBe(50);
    expect(s.cpuMsPerRequestBase).toBeCloseTo(1.2, 10);
    expect(s.cpuMsPerRequestShort).toBe(2);
    expect(s.cpuMsPerRequestLong).toBe(14);
    expect(s.chunksPerRequest).toEqual({ short: 16, long: 256 });
  });

  it('is NaN, not infinite, when a run served nothing or the lengths do not differ', () => {
    expect(
      cpuSlope(
        { requests: 0, cpuUs: 0, chunks: 16, wallMs: 1_000 },
        { requests: 5, cpuUs: 100, chunks: 256, wallMs: 1_000 },
      ).cpuUsPerChunk,
    ).toBeNaN();
    expect(
      cpuSlope(
        { requests: 5, cpuUs: 100, chunks: 16, wallMs: 1_000 },
        { requests: 5, cpuUs: 200, chunks: 16, wallMs: 1_000 },
      ).cpuUsPerChunk,
    ).toBeNaN();
  });

  it('takes the floor off the gateway figure by figure', () => {
    const gateway = cpuSlope(
      { requests: 4, cpuUs: 8_000, chunks: 16, wallMs: 1_000 },
      { requests: 4, cpuUs: 80_000, chunks: 256, wallMs: 1_000 },
    );
    const floor = cpuSlope(
      { requests: 4, cpuUs: 4_000, chunks: 16, wallMs: 1_000 },
      { requests: 4, cpuUs: 52_000, chunks: 256, wallMs: 1_000 },
    );
    const above = aboveFloor(gateway, floor);
    expect(above.cpuUsPerChunk).toBeCloseTo(75 - 50, 10);
    expect(above.cpuMsPerRequestBase).toBeCloseTo(
      gateway.cpuMsPerRequestBase - floor.cpuMsPerRequestBase,
      10,
    );
    expect(above.cpuMsPerRequestShort).toBeCloseTo(1, 10);
    expect(above.cpuMsPerRequestLong).toBeCloseTo(7, 10);
  });
});

describe('bench runs of one length', () => {
  it('reads the idle rate as CPU per ms of wall time', () => {
    expect(idleRate(6_000, 3_000)).toBe(2);
    expect(idleRate(-5, 1_000)).toBe(0);
    expect(idleRate(100, 0)).toBe(0);
  });

  it('moves a run to another length at the idle rate', () => {
    const run = { requests: 10, cpuUs: 50_000, chunks: 16, wallMs: 2_000 };
    expect(atWall(run, 2, 1_500)).toEqual({ ...run, cpuUs: 49_000, wallMs: 1_500 });
    expect(atWall(run, 2, 2_500).cpuUs).toBe(51_000);
    expect(atWall(run, 0, 100).cpuUs).toBe(50_000);
  });

  it('charges no time-proportional CPU to chunks once both runs are brought to one length', () => {
    // 1,000 µs a request + 10 µs a chunk, plus 5 µs of background per ms of wall time. The short
    // replies last 60 ms, the long ones 180 ms: their slope alone charges 2.5 µs more a chunk.
    const idle = 5;
    const run = (chunks: number, ms: number) => ({
      requests: 100,
      chunks,
      wallMs: 100 * ms,
      cpuUs: 100 * (1_000 + 10 * chunks + idle * ms),
    });
    expect(cpuSlope(run(16, 60), run(256, 180)).cpuUsPerChunk).toBeCloseTo(12.5, 10);
    // Short replies padded by 120 ms; both runs then taken to the unpadded short length.
    const ref = 100 * 60;
    const s = cpuSlope(atWall(run(16, 180), idle, ref), atWall(run(256, 180), idle, ref));
    expect(s.cpuUsPerChunk).toBeCloseTo(10, 10);
    expect(s.cpuMsPerRequestBase).toBeCloseTo((1_000 + idle * 60) / 1000, 10);
    // Matched lengths cancel the background even when the idle rate is not known.
    expect(cpuSlope(run(16, 180), run(256, 180)).cpuUsPerChunk).toBeCloseTo(10, 10);
  });
});

describe('bench thread CPU clocks', () => {
  it('reads nanoseconds on CPU from schedstat as µs', () => {
    expect(parseSchedstat('48714407 10367909 94\n')).toBeCloseTo(48_714.407, 6);
    expect(parseSchedstat('0 0 0')).toBe(0);
    expect(parseSchedstat('')).toBeUndefined();
    expect(parseSchedstat('abc 1 2')).toBeUndefined();
  });

  it('reads utime + stime ticks from stat as µs, whatever the command name holds', () => {
    const tail = 'S 3630 3631 3631 0 -1 4194560 3105 34932 0 12 7 3 30 18 20 0 1 0 18797 5124096 990';
    expect(parseStatTicks(`3631 (bash) ${tail}`)).toBe(100_000);
    expect(parseStatTicks(`3631 (node (main) x) ${tail}`)).toBe(100_000);
    expect(parseStatTicks('garbage')).toBeUndefined();
    expect(parseStatTicks('1 (x) S 1 2')).toBeUndefined();
  });
});

describe('bench pass-through floor', () => {
  const frames = ['data: {"a":1}\n\n', 'data: {"b":2}\n\n', 'data: [DONE]\n\n'];
  let upstream: Server;
  let floor: FloorProxy;
  const seen: Array<{ url: string | undefined; body: string; auth: string | undefined }> = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (b: Buffer) => parts.push(b));
      req.on('end', () => {
        seen.push({ url: req.url, body: Buffer.concat(parts).toString(), auth: req.headers.authorization });
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-upstream': 'yes' });
        for (const f of frames) res.write(f);
        res.end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
    const { port } = upstream.address() as AddressInfo;
    floor = await startFloorProxy(`http://127.0.0.1:${port}/v1`);
  });

  afterAll(async () => {
    await floor.close();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('forwards the body as it came and relays the upstream bytes unchanged', async () => {
    const body = JSON.stringify({
      model: 'upstream-model',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(floor.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(res.headers.get('x-upstream')).toBe('yes');
      expect(await res.text()).toBe(frames.join(''));
    }
    expect(seen).toHaveLength(2);
    expect(seen[0]).toEqual({ url: '/v1/chat/completions', body, auth: undefined });
  });

  it('answers 404 to anything but POST /v1/chat/completions', async () => {
    const res = await fetch(floor.url.replace('/chat/completions', '/models'));
    expect(res.status).toBe(404);
    await res.text();
  });

  it('drops hop-by-hop headers', () => {
    expect(
      endToEnd({
        connection: 'keep-alive',
        'transfer-encoding': 'chunked',
        host: 'x',
        'content-type': 'a/b',
      }),
    ).toEqual({ 'content-type': 'a/b' });
  });
});
