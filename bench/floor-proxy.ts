/**
 * The pass-through floor: the least any proxy on this machine pays to stand between the client
 * and the upstream. A node:http server on the gateway's (main) thread that forwards
 * POST /v1/chat/completions to the demo upstream over a keep-alive agent and relays the response
 * bytes unchanged: no auth, no parsing, no framing, no accounting. The client sends it the
 * upstream's model id, as it does the direct path, so the body goes through as it came.
 *
 * Every gateway figure read against this one (gateway − floor) is what the gateway's own work
 * costs; floor − direct is what one more hop (two sockets, the kernel's share) costs.
 */
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export const FLOOR_PATH = '/v1/chat/completions';

export interface FloorProxy {
  /** Full URL of the proxied chat completions endpoint. */
  url: string;
  close(): Promise<void>;
}

/** Per-connection headers (RFC 9110 §7.6.1), not forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

/** `headers` less the hop-by-hop ones. */
export function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error' } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Starts the floor on 127.0.0.1 (any free port), forwarding to `${upstreamBaseUrl}/chat/completions`. */
export async function startFloorProxy(upstreamBaseUrl: string): Promise<FloorProxy> {
  const target = new URL(`${upstreamBaseUrl}/chat/completions`);
  // Sockets as the gateway's upstream pool keeps them: reused, most recent first, without Nagle's delay.
  const agent = new Agent({ keepAlive: true, scheduling: 'lifo', noDelay: true });
  const server = createServer({ noDelay: true }, (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== FLOOR_PATH) {
      req.resume();
      refuse(res, 404, 'The floor proxies POST /v1/chat/completions only.');
      return;
    }
    // The body is small: read it whole, so it leaves with the headers in one write.
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const upstream = request(
        target,
        {
          method: 'POST',
          agent,
          headers: { ...endToEnd(req.headers), 'content-length': body.length },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, endToEnd(up.headers));
          up.pipe(res);
        },
      );
      upstream.on('error', (err) => {
        if (res.headersSent) res.destroy(err);
        else refuse(res, 502, `upstream: ${err.message}`);
      });
      // The client gave up: so does the upstream call.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${FLOOR_PATH}`,
    close: async () => {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
