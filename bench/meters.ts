/**
 * What a request costs to serve, counted from outside the production code: CPU time of the
 * gateway's thread, DynamoDB capacity units and calls (a middleware on every document client
 * created after `installStorageMeter`), and events put on the bus (a wrapper on the local bus).
 */
import { readFileSync } from 'node:fs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LocalEventBus } from '../local/event-bus.js';

/** Linux reports thread times in /proc/…/stat in clock ticks of 1/100 s (USER_HZ). */
const TICK_US = 10_000;

/** Which clock a CPU reading came from, most precise first. */
export type CpuClock = 'schedstat' | 'stat-ticks' | 'process';

/**
 * On-CPU time (µs) from a thread's /proc/…/schedstat: "<ns on CPU> <ns waiting> <timeslices>".
 * The scheduler's own nanosecond clock, so a short run is not rounded to the 10 ms tick.
 */
export function parseSchedstat(text: string): number | undefined {
  const ns = text.trim().split(/\s+/)[0];
  return ns !== undefined && /^\d+$/.test(ns) ? Number(ns) / 1000 : undefined;
}

/** utime + stime (µs) from a thread's /proc/…/stat, in whole ticks. */
export function parseStatTicks(text: string): number | undefined {
  // Fields after the command name (which may hold spaces and parentheses) start at state: utime is the 12th.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * TICK_US : undefined;
}

function readThread(file: string, parse: (text: string) => number | undefined): number | undefined {
  try {
    return parse(readFileSync(`/proc/self/task/${process.pid}/${file}`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system, µs) of the main thread alone, where the gateways and the local bus
 * run; the upstream and client workers are other threads. `clock` says where it came from:
 * schedstat (ns; kernels without schedstats lack the file), else stat (10 ms ticks), else the
 * whole process's time (which then includes the workers), `scope` 'process'. One source per run:
 * differences between readings of different clocks mean nothing.
 */
export function mainThreadCpu(): { us: number; scope: 'main-thread' | 'process'; clock: CpuClock } {
  const precise = readThread('schedstat', parseSchedstat);
  if (precise !== undefined) return { us: precise, scope: 'main-thread', clock: 'schedstat' };
  const ticks = readThread('stat', parseStatTicks);
  if (ticks !== undefined) return { us: ticks, scope: 'main-thread', clock: 'stat-ticks' };
  const { user, system } = process.cpuUsage();
  return { us: user + system, scope: 'process', clock: 'process' };
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
