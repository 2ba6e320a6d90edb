/**
 * Storage operations, events and CPU per request, as `npm run bench` measured them locally; the
 * cost model reads them from measured-ops.json, which the bench writes.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const perRequest = z.object({
  dynamodbCallsPerRequest: z.number().nonnegative(),
  dynamodbReadUnitsPerRequest: z.number().nonnegative(),
  dynamodbWriteUnitsPerRequest: z.number().nonnegative(),
});

export const measuredOpsSchema = z.object({
  source: z.string(),
  measuredAt: z.string(),
  machine: z.object({ cpuModel: z.string().nullable(), cpus: z.number(), node: z.string() }),
  /** 'process' where per-thread CPU could not be read: the figures then include the bench's own threads. */
  cpuScope: z.enum(['main-thread', 'process']),
  completions: perRequest.extend({
    cpuMsPerRequestBase: z.number(),
    cpuUsPerChunk: z.number(),
    heapKbPerStream: z.number(),
    eventsPerRequest: z.number().nonnegative(),
    putEventsCallsPerRequest: z.number().nonnegative(),
  }),
  /** Billing and guardrail, per gateway request. */
  consumers: perRequest.extend({
    invocationsPerRequest: z.number().nonnegative(),
    cpuMsPerInvocation: z.number(),
  }),
});

export type MeasuredOps = z.infer<typeof measuredOpsSchema>;

export function readMeasuredOps(path: string): MeasuredOps {
  return measuredOpsSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}
