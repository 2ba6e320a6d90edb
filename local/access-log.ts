import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { PutEventsSender } from '../shared/adapters/usage-publisher.js';
import { formatMicros } from '../shared/domain/money.js';
import { USAGE_DETAIL_TYPE } from '../shared/domain/usage.js';

/**
 * `npm start`'s access log: one line per request to the gateway's port, written when the
 * response is over. It shows only what the response itself tells (status, x-tier, request id,
 * time taken) and the request's charge, taken from its usage event on the local bus (published
 * before the response ends, so it is known by then; `-` when there is none, e.g. a 401).
 * Never a header value other than those, a query string, a key or a prompt.
 */

export interface AccessLogEntry {
  time: string;
  method: string;
  /** The path only: a query string is never logged. */
  path: string;
  status: number;
  /** false when the client went away before the response was complete. */
  completed: boolean;
  tier: string | undefined;
  requestId: string | undefined;
  ms: number;
  chargeMicros: number | undefined;
}

export function formatAccessLine(e: AccessLogEntry): string {
  return [
    e.time,
    e.method,
    e.path,
    e.completed ? String(e.status) : `${e.status} (client closed)`,
    e.tier ?? '-',
    `${e.ms}ms`,
    e.chargeMicros === undefined ? '-' : `$${formatMicros(e.chargeMicros)}`,
    e.requestId ? `id=${e.requestId}` : '',
  ]
    .join(' ')
    .trimEnd();
}

/** Charges by request id, as the completions function publishes them; read once, then dropped. */
export class UsageCharges {
  private readonly charges = new Map<string, number>();

  constructor(private readonly max = 10_000) {}

  /** Wraps an EventBridge client so every usage event it publishes is noted on the way. */
  tap(client: PutEventsSender): PutEventsSender {
    return {
      send: (command, options) => {
        if (command instanceof PutEventsCommand) {
          for (const entry of command.input.Entries ?? []) {
            if (entry.DetailType === USAGE_DETAIL_TYPE && entry.Detail) this.note(entry.Detail);
          }
        }
        return client.send(command, options);
      },
    };
  }

  take(requestId: string | undefined): number | undefined {
    if (requestId === undefined) return undefined;
    const charge = this.charges.get(requestId);
    this.charges.delete(requestId);
    return charge;
  }

  private note(detail: string): void {
    try {
      const { requestId, chargeMicros } = JSON.parse(detail) as Record<string, unknown>;
      if (typeof requestId !== 'string' || typeof chargeMicros !== 'number') return;
      if (this.charges.size >= this.max) {
        const oldest = this.charges.keys().next();
        if (!oldest.done) this.charges.delete(oldest.value);
      }
      this.charges.set(requestId, chargeMicros);
    } catch {
      // Not ours to judge: the bus validates events.
    }
  }
}

interface RequestStart {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
}

/** At most 200 characters, anything but visible ASCII percent-encoded: no terminal control reaches the log. */
const printable = (path: string): string =>
  path.slice(0, 200).replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));

/**
 * The response headers, wherever they were set: `writeHead(status, headers)` sends an object's
 * headers without storing them where `getHeader` looks, so this response's writeHead notes them.
 */
function headersOf(res: ServerResponse): (name: string) => string | undefined {
  const given = new Map<string, string>();
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const headers = args.find((a, i) => i > 0 && typeof a === 'object' && a !== null && !Array.isArray(a));
    for (const [name, value] of Object.entries((headers ?? {}) as Record<string, unknown>)) {
      if (typeof value === 'string') given.set(name.toLowerCase(), value);
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
  return (name) => {
    const value = res.getHeader(name);
    return typeof value === 'string' ? value : given.get(name);
  };
}

/**
 * Calls `write` once per request served on `port` of this process (node:http's diagnostics
 * channel, so the server itself needs no hook). Returns the function that stops it.
 */
export function watchAccessLog(
  port: () => number,
  charges: UsageCharges,
  write: (entry: AccessLogEntry) => void,
  now: () => number = Date.now,
): () => void {
  const onStart = (message: unknown): void => {
    const { request, response, socket } = message as RequestStart;
    if (socket.localPort !== port()) return;
    const started = now();
    const header = headersOf(response);
    response.once('close', () => {
      const requestId = header('x-request-id');
      write({
        time: new Date(started).toISOString(),
        method: request.method ?? '-',
        path: printable((request.url ?? '/').split('?')[0] ?? '/'),
        status: response.statusCode,
        completed: response.writableFinished,
        tier: header('x-tier'),
        requestId,
        ms: now() - started,
        chargeMicros: charges.take(requestId),
      });
    });
  };
  subscribe('http.server.request.start', onStart);
  return () => unsubscribe('http.server.request.start', onStart);
}
