import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aboveFloor, cpuSlope } from '../../bench/floor.js';
import { endToEnd, type FloorProxy, startFloorProxy } from '../../bench/floor-proxy.js';

describe('bench CPU slope', () => {
  it('splits per-request CPU into a base and a per-chunk cost', () => {
    // 10 requests of 16 chunks at 2,000 µs each; 10 of 256 chunks at 14,000 µs each: 50 µs a chunk.
    const s = cpuSlope(
      { requests: 10, cpuUs: 20_000, chunks: 16 },
      { requests: 10, cpuUs: 140_000, chunks: 256 },
    );
    expect(s.cpuUsPerChunk).toBe(50);
    expect(s.cpuMsPerRequestBase).toBeCloseTo(1.2, 10);
    expect(s.cpuMsPerRequestShort).toBe(2);
    expect(s.cpuMsPerRequestLong).toBe(14);
    expect(s.chunksPerRequest).toEqual({ short: 16, long: 256 });
  });

  it('is NaN, not infinite, when a run served nothing or the lengths do not differ', () => {
    expect(
      cpuSlope({ requests: 0, cpuUs: 0, chunks: 16 }, { requests: 5, cpuUs: 100, chunks: 256 }).cpuUsPerChunk,
    ).toBeNaN();
    expect(
      cpuSlope({ requests: 5, cpuUs: 100, chunks: 16 }, { requests: 5, cpuUs: 200, chunks: 16 })
        .cpuUsPerChunk,
    ).toBeNaN();
  });

  it('takes the floor off the gateway figure by figure', () => {
    const gateway = cpuSlope(
      { requests: 4, cpuUs: 8_000, chunks: 16 },
      { requests: 4, cpuUs: 80_000, chunks: 256 },
    );
    const floor = cpuSlope(
      { requests: 4, cpuUs: 4_000, chunks: 16 },
      { requests: 4, cpuUs: 52_000, chunks: 256 },
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
