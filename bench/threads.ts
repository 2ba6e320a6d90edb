/**
 * Worker threads for the bench. The demo upstream and the bench client each get their own event
 * loop, so the gateway's thread does only the gateway's work (as it would in Lambda) and the
 * upstream's timers are not delayed by the gateway's CPU bursts (as a remote upstream's are not).
 *
 * Workers do not inherit tsx's loader, so a small eval'd bootstrap imports the TypeScript entry
 * through tsx's API. Calls are plain request/response messages.
 */
import { parentPort, Worker } from 'node:worker_threads';

interface CallMessage {
  id: number;
  method: string;
  args: unknown;
}

type ReplyMessage = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** tsx's ESM API as a file URL, resolved from here so the worker finds the project's tsx. */
const tsxApiUrl = (): string => import.meta.resolve('tsx/esm/api');

export class WorkerClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (err: Error) => void }
  >();
  private failure: Error | undefined;

  private constructor(readonly worker: Worker) {
    worker.on('message', (m: ReplyMessage) => {
      const waiter = this.pending.get(m.id);
      if (!waiter) return;
      this.pending.delete(m.id);
      if (m.ok) waiter.resolve(m.value);
      else waiter.reject(new Error(m.error));
    });
    const failAll = (err: Error): void => {
      this.failure ??= err;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`worker exited (${code})`)));
  }

  /** Starts `entry` (a .ts module that calls `serve`) in a worker thread. */
  static start(entry: URL): WorkerClient {
    const api = JSON.stringify(tsxApiUrl());
    const boot =
      `import(${api}).then((m) => m.tsImport(` +
      `${JSON.stringify(entry.href)}, ${JSON.stringify(import.meta.url)}))`;
    return new WorkerClient(new Worker(boot, { eval: true }));
  }

  call<T>(method: string, args: unknown = null): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ id, method, args } satisfies CallMessage);
    });
  }

  /** Event-loop utilisation of the worker's thread since `since` (or since it started). */
  elu(since?: ReturnType<Worker['performance']['eventLoopUtilization']>) {
    return this.worker.performance.eventLoopUtilization(since);
  }

  /** Lets the worker clean up through `close`, then ends the thread. */
  async stop(): Promise<void> {
    if (!this.failure) await this.call('close').catch(() => {});
    await this.worker.terminate();
  }
}

/** Worker side: answers calls with the given handlers; `close` is called before termination. */
export function serve(handlers: Record<string, (args: never) => Promise<unknown>>): void {
  const port = parentPort;
  if (!port) throw new Error('serve() must run in a worker thread');
  port.on('message', (m: CallMessage) => {
    const handler = handlers[m.method];
    const reply = (r: ReplyMessage): void => port.postMessage(r);
    if (!handler) {
      reply({ id: m.id, ok: false, error: `unknown method ${m.method}` });
      return;
    }
    handler(m.args as never).then(
      (value) => reply({ id: m.id, ok: true, value }),
      (err: unknown) =>
        reply({
          id: m.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        }),
    );
  });
}
