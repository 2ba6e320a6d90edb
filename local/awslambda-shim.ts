import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';

/**
 * A stand-in for the `awslambda` global that the Lambda Node.js runtime provides to streaming
 * handlers. Imported before any handler module, it lets the very modules deployed to Lambda
 * stream over node:http: each write reaches the socket as it is made.
 */

export interface ResponseMetadata {
  statusCode?: number;
  headers?: Record<string, string>;
}

/**
 * The response stream handed to a streaming handler, writing through to a node:http response. It
 * keeps the rules of the Lambda runtime's stream (aws-lambda-nodejs-runtime-interface-client,
 * src/ResponseStream.js), so code that breaks them fails here too: `end` takes only a callback,
 * and the status and headers given to `HttpResponseStream.from` leave with the first write; a
 * handler that ends without writing never sends them, which a Function URL answers with a 502.
 */
export class LocalResponseStream extends Writable {
  private metadata: ResponseMetadata | undefined;
  private headersSent = false;

  constructor(private readonly res: ServerResponse) {
    super({ decodeStrings: false });
    // The client went away before the end: fail the stream so the handler's pipeline unwinds.
    res.on('close', () => {
      if (!res.writableFinished)
        this.destroy(Object.assign(new Error('client disconnected'), { code: 'ECONNRESET' }));
    });
  }

  /** As `HttpResponseStream.from`: the status and headers to send before the first bytes. */
  setMetadata(meta: ResponseMetadata): void {
    this.metadata ??= meta;
  }

  override end(...args: unknown[]): this {
    const [callback] = args;
    if (callback !== undefined && typeof callback !== 'function') {
      throw new TypeError("Lambda's response stream end() takes only a callback: write the last bytes first");
    }
    return super.end(callback as (() => void) | undefined);
  }

  override _write(
    chunk: Buffer | string,
    encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    if (!this.headersSent) {
      this.headersSent = true;
      // The head leaves with the first body bytes: one socket write, not two, before the first token.
      const { statusCode = 200, headers = { 'content-type': 'application/octet-stream' } } =
        this.metadata ?? {};
      this.res.writeHead(statusCode, headers);
    }
    if (this.res.write(chunk, encoding)) callback();
    else this.res.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.headersSent && this.metadata) {
      // The runtime sends the prelude from its first write only: with none, it never leaves.
      this.headersSent = true;
      this.res.writeHead(502, { 'content-type': 'application/json' });
      this.res.end('{"Message":"Internal Server Error"}', () => callback());
      return;
    }
    if (!this.headersSent) {
      this.headersSent = true;
      this.res.writeHead(200);
    }
    this.res.end(() => callback());
  }
}

type StreamingHandler = (
  event: unknown,
  responseStream: LocalResponseStream,
  context: unknown,
) => Promise<unknown>;

export const STREAMING = Symbol.for('tiergate.local.streaming');

const awslambda = {
  streamifyResponse(handler: StreamingHandler): StreamingHandler {
    return Object.assign(handler, { [STREAMING]: true });
  },
  HttpResponseStream: {
    from(stream: LocalResponseStream, metadata: ResponseMetadata): LocalResponseStream {
      stream.setMetadata(metadata);
      return stream;
    },
  },
};

// Some AWS SDK modules create a bare `globalThis.awslambda = {}`: fill in what is missing rather
// than stepping aside when the global exists.
const globals = globalThis as unknown as { awslambda?: Partial<typeof awslambda> };
globals.awslambda ??= {};
globals.awslambda.streamifyResponse ??= awslambda.streamifyResponse;
globals.awslambda.HttpResponseStream ??= awslambda.HttpResponseStream;

export const isStreamingHandler = (h: unknown): h is StreamingHandler =>
  typeof h === 'function' && (h as unknown as Record<symbol, unknown>)[STREAMING] === true;
