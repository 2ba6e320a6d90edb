import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError, requestTooLarge } from '../shared/domain/errors.js';
import { CONSOLE_PATHS } from '../shared/runtime/console-handler.js';
import { pathErrorResponse } from '../shared/runtime/surface-errors.js';
import { isStreamingHandler, LocalResponseStream } from './awslambda-shim.js';

/**
 * node:http in front of the Lambda handlers: each request becomes a Function URL event, like
 * the one Lambda delivers, and goes to the unchanged handler module. `/admin/*` requires the
 * admin token (standing in for the AWS_IAM auth of the admin Function URL).
 */

export type LambdaHandler = (...args: unknown[]) => Promise<unknown>;

export interface DevServerOptions {
  port: number;
  host?: string;
  completions: LambdaHandler;
  admin: LambdaHandler;
  /** The key holder's console page, served at /console. */
  console?: LambdaHandler;
  adminToken: string;
  /** The public function's request body limit; larger bodies are refused before they are read. */
  maxBodyBytes: number;
  functionTimeoutMs?: number;
  /**
   * How long a client may take to send a request's head, and the whole request, before its
   * connection is closed with a 408 (a slow-loris defence). Responses are not bounded by them:
   * a long stream goes on. How often connections are checked against them.
   */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  timeoutCheckIntervalMs?: number;
}

export interface DevServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const ADMIN_MAX_BODY_BYTES = 262_144;

function errorBody(_status: number, type: string, code: string, message: string): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

/** The path of the request line at the start of what node:http could not parse, else `/`. */
function requestPath(raw: Buffer | undefined): string {
  const line = raw?.subarray(0, 2048).toString('latin1').split('\r\n', 1)[0] ?? '';
  const target = /^[A-Z]+ (\/[^ ?#]*)/.exec(line)?.[1];
  return target ?? '/';
}

/** Requests node:http refuses itself: status, reason phrase, error code and message. */
const CLIENT_ERRORS: Record<string, [number, string, string, string]> & {
  default: [number, string, string, string];
} = {
  HPE_HEADER_OVERFLOW: [
    431,
    'Request Header Fields Too Large',
    'request_header_fields_too_large',
    'The request headers are too large.',
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    'Request Timeout',
    'request_timeout',
    'The request was not received in time.',
  ],
  default: [400, 'Bad Request', 'invalid_request', 'The request is not valid HTTP.'],
};

function sendJson(res: ServerResponse, status: number, body: string, requestId: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId });
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too_large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return resolve('too_large');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too_large');
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The request target as a URL. `new URL(target, base)` would read `//host/…` as a host (and
 * throw on `//`, `//[::1`, `//%zz/`), so an origin-form target is appended to the origin.
 */
function requestUrl(target: string | undefined): URL | undefined {
  const raw = target ?? '/';
  try {
    return raw.startsWith('/') ? new URL(`http://localhost${raw}`) : new URL(raw);
  } catch {
    return undefined;
  }
}

function toEvent(req: IncomingMessage, body: Buffer, url: URL) {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // As a Function URL does: a repeated parameter's values joined with commas, in order; no
  // queryStringParameters at all without a query string.
  const query: Record<string, string> = Object.create(null);
  for (const [k, v] of url.searchParams) query[k] = Object.hasOwn(query, k) ? `${query[k]},${v}` : v;
  const queryStringParameters = Object.keys(query).length > 0 ? query : undefined;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    // Function URLs base64-encode bodies they do not treat as text; doing it always keeps bytes exact.
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

function lambdaContext(timeoutMs: number) {
  const started = Date.now();
  return {
    functionName: 'local',
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
  };
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = Buffer.from(/^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)[ \t]*$/i.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const timeoutMs = options.functionTimeoutMs ?? 900_000;
  const serverOptions = {
    noDelay: true,
    headersTimeout: options.headersTimeoutMs ?? 10_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    connectionsCheckingInterval: options.timeoutCheckIntervalMs ?? 1_000,
  };
  const server: Server = createServer(serverOptions, (req, res) => {
    const requestId = randomUUID().replace(/-/g, '').slice(0, 24);
    void (async () => {
      const url = requestUrl(req.url);
      if (!url) {
        return sendJson(
          res,
          400,
          errorBody(
            400,
            'invalid_request_error',
            'invalid_request',
            'The request target is not a valid URL.',
          ),
          requestId,
        );
      }
      const isAdmin = url.pathname === '/admin' || url.pathname.startsWith('/admin/');
      if (isAdmin && !tokenMatches(req.headers.authorization, options.adminToken)) {
        return sendJson(
          res,
          401,
          errorBody(401, 'authentication_error', 'invalid_admin_token', 'Missing or wrong admin token.'),
          requestId,
        );
      }
      const limit = isAdmin ? ADMIN_MAX_BODY_BYTES : options.maxBodyBytes;
      const body = await readBody(req, limit);
      if (body === 'too_large') {
        res.setHeader('connection', 'close');
        // The shape of the path's surface, as the public API would answer.
        const refusal = pathErrorResponse(url.pathname, requestTooLarge(limit), requestId);
        res.writeHead(refusal.status, refusal.headers);
        return void res.end(refusal.body);
      }
      const event = toEvent(req, body, url);
      const isConsole = options.console !== undefined && CONSOLE_PATHS.includes(url.pathname as never);
      const handler = isAdmin
        ? options.admin
        : isConsole
          ? (options.console as LambdaHandler)
          : options.completions;
      if (isStreamingHandler(handler)) {
        const stream = new LocalResponseStream(res);
        stream.on('error', () => {});
        await (handler as LambdaHandler)(event, stream, lambdaContext(timeoutMs)).catch((err: unknown) => {
          // A client that disconnected fails the pipeline; anything else is a real failure.
          if (!res.destroyed) throw err;
        });
        return;
      }
      const result = (await (handler as LambdaHandler)(event, lambdaContext(timeoutMs))) as {
        statusCode?: number;
        headers?: Record<string, string>;
        body?: string;
      };
      res.writeHead(result.statusCode ?? 200, result.headers ?? {});
      res.end(result.body ?? '');
    })().catch((err: unknown) => {
      // A handler that throws is what Lambda reports as a failed invocation: a bare 500.
      if (!res.headersSent) {
        sendJson(
          res,
          500,
          errorBody(500, 'server_error', 'internal_error', `Internal error. Request id: ${requestId}.`),
          requestId,
        );
      } else res.destroy(err instanceof Error ? err : undefined);
    });
  });
  // Requests node:http refuses before any handler runs (oversized or malformed heads) still get
  // an error in the shape of their path's surface (Anthropic's on /v1/messages), not a bare status line.
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    if (!socket.writable) return socket.destroy();
    const [status, reason, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? CLIENT_ERRORS.default;
    const requestId = randomUUID().replace(/-/g, '').slice(0, 24);
    const error = new GatewayError({ status, type: 'invalid_request_error', code, message });
    const refusal = pathErrorResponse(requestPath(err.rawPacket), error, requestId);
    const body = typeof refusal.body === 'string' ? refusal.body : '';
    const head = Object.entries({ ...refusal.headers, connection: 'close' })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
