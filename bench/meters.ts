/**
 * What a request costs to serve, counted from outside the production code: CPU time of the
 * gateway's thread, DynamoDB capacity units and calls (a middleware on every document client
 * created after `installStorageMeter`), and events put on the bus (a wrapper on the local bus).
 */
import { readFileSync } from 'node:fs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LocalEventBus } from '../local/event-bus.js';

/** Linux reports thread times in clock ticks of 1/100 s (USER_HZ). */
const TICK_US = 10_000;

/**
 * CPU time (user + system, µs) of the main thread alone, where the gateways and the local bus
 * run; the upstream and client workers are other threads. Where /proc is not there, the whole
 * process's time (which then includes the workers) and `scope` says so.
 */
export function mainThreadCpu(): { us: number; scope: 'main-thread' | 'process' } {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state: utime is the 12th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { us: (Number(fields[11]) + Number(fields[12])) * TICK_US, scope: 'main-thread' };
  } catch {
    const { user, system } = process.cpuUsage();
    return { us: user + system, scope: 'process' };
  }
}

export interface OperationCount {
  calls: number;
  /** Calls that failed (e.g. a condition): they consume capacity DynamoDB does not report back. */
  failed: number;
  readUnits: number;
  writeUnits: number;
}

export type StorageCounts = Record<string, OperationCount>;

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
/** Operations that take ReturnConsumedCapacity. */
const METERED = new Set([
  ...READS,
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

const counts: StorageCounts = {};
const zero = (): OperationCount => ({ calls: 0, failed: 0, readUnits: 0, writeUnits: 0 });

/** The tally of `op` in `tally`, created at zero. */
function entry(tally: StorageCounts, op: string): OperationCount {
  let count = tally[op];
  if (!count) {
    count = zero();
    tally[op] = count;
  }
  return count;
}
let installed = false;

interface Capacity {
  CapacityUnits?: number;
}

/**
 * From now on, every DynamoDB document client asks for its consumed capacity (table and indexes)
 * and tallies it per operation. Call before the handlers are loaded: they build their clients then.
 */
export function installStorageMeter(): void {
  if (installed) return;
  installed = true;
  const from = DynamoDBDocumentClient.from.bind(DynamoDBDocumentClient);
  DynamoDBDocumentClient.from = (...args: Parameters<typeof DynamoDBDocumentClient.from>) => {
    const client = from(...args);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const operation = String(context.commandName ?? 'unknown').replace(/Command$/, '');
        const count = entry(counts, operation);
        count.calls++;
        const input = args.input as Record<string, unknown>;
        const metered = METERED.has(operation);
        try {
          const result = await next(
            metered ? { ...args, input: { ...input, ReturnConsumedCapacity: 'INDEXES' } } : args,
          );
          const consumed = (result.output as { ConsumedCapacity?: Capacity | Capacity[] }).ConsumedCapacity;
          const units = [consumed ?? []].flat().reduce((n, c) => n + (c.CapacityUnits ?? 0), 0);
          if (READS.has(operation)) count.readUnits += units;
          else count.writeUnits += units;
          return result;
        } catch (err) {
          count.failed++;
          throw err;
        }
      },
      { step: 'initialize', name: 'benchStorageMeter' },
    );
    return client;
  };
}

export function storageSnapshot(): StorageCounts {
  return structuredClone(counts);
}

/** What happened between two snapshots. */
export function storageSince(before: StorageCounts): StorageCounts {
  const out: StorageCounts = {};
  for (const [op, now] of Object.entries(counts)) {
    const was = before[op] ?? zero();
    if (now.calls === was.calls) continue;
    out[op] = {
      calls: now.calls - was.calls,
      failed: now.failed - was.failed,
      readUnits: now.readUnits - was.readUnits,
      writeUnits: now.writeUnits - was.writeUnits,
    };
  }
  return out;
}

/** The sum of two tallies. */
export function addCounts(a: StorageCounts, b: StorageCounts): StorageCounts {
  const out = structuredClone(a);
  for (const [op, c] of Object.entries(b)) {
    const t = entry(out, op);
    t.calls += c.calls;
    t.failed += c.failed;
    t.readUnits += c.readUnits;
    t.writeUnits += c.writeUnits;
  }
  return out;
}

export interface EventCounts {
  /** PutEvents calls and the entries they carried. */
  putCalls: number;
  events: number;
  /** Target invocations that succeeded (billing, guardrail). */
  deliveries: number;
}

/** Counts what the gateway puts on the local bus. */
export class EventMeter {
  private putCalls = 0;
  private events = 0;

  constructor(private readonly bus: LocalEventBus) {
    const put = bus.putEvents.bind(bus);
    bus.putEvents = (entries) => {
      this.putCalls++;
      this.events += entries.length;
      return put(entries);
    };
  }

  snapshot(): EventCounts {
    return { putCalls: this.putCalls, events: this.events, deliveries: this.bus.delivered.length };
  }

  since(before: EventCounts): EventCounts {
    const now = this.snapshot();
    return {
      putCalls: now.putCalls - before.putCalls,
      events: now.events - before.events,
      deliveries: now.deliveries - before.deliveries,
    };
  }
}
