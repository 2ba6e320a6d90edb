import { randomUUID } from 'node:crypto';
import {
  EventBridgeServiceException,
  PutEventsCommand,
  type PutEventsCommandOutput,
} from '@aws-sdk/client-eventbridge';
import type { PutEventsSender } from '../shared/adapters/usage-publisher.js';
import { isObject } from '../shared/domain/json-body.js';

/**
 * The PutEvents API as the local bus offers it: the request and result shapes, EventBridge's limits, the checks
 * and error codes with which the service rejects a request or an entry, the event made of an accepted entry,
 * and the `EventBridgeClient` stand-in that calls the bus. Delivery is in event-bus.ts.
 */

/** The event EventBridge hands a Lambda target. */
export interface BusEvent {
  id: string;
  source: string;
  'detail-type': string;
  detail: unknown;
  time: string;
  account: string;
  region: string;
  resources: string[];
  version: '0';
}

export interface PutEventsEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  EventBusName?: string;
  Time?: Date;
  Resources?: string[];
}

export interface PutEventsResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

export interface PutEventsResult {
  FailedEntryCount: number;
  Entries: PutEventsResultEntry[];
}

/** EventBridge's limits for PutEvents. */
export const MAX_ENTRIES_PER_PUT = 10;
export const MAX_ENTRY_BYTES = 256 * 1024;
/** The account id stamped on local events: not a real account, so it cannot be mistaken for one. */
export const LOCAL_ACCOUNT_ID = '000000000000';

const TIME_ENTRY_BYTES = 14;

/** EventBridge's time format: ISO 8601 to the second. */
function eventTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Entry size as EventBridge computes it for the 256 KB limit. */
function entrySize(entry: PutEventsEntry): number {
  let bytes = entry.Time === undefined ? 0 : TIME_ENTRY_BYTES;
  bytes += Buffer.byteLength(entry.Source ?? '', 'utf8');
  bytes += Buffer.byteLength(entry.DetailType ?? '', 'utf8');
  bytes += Buffer.byteLength(entry.Detail ?? '', 'utf8');
  for (const resource of entry.Resources ?? []) bytes += Buffer.byteLength(resource, 'utf8');
  return bytes;
}

/** What becomes of one entry: the event to deliver, or the error EventBridge reports for that entry. */
export type EntryOutcome =
  | { ok: true; event: BusEvent }
  | { ok: false; ErrorCode: string; ErrorMessage: string };

type Validated =
  | { ok: true; source: string; detailType: string; detail: unknown }
  | { ok: false; ErrorCode: string; ErrorMessage: string };

function invalid(ErrorCode: string, ErrorMessage: string): Validated {
  return { ok: false, ErrorCode, ErrorMessage };
}

function missingField(field: string): Validated {
  return invalid(
    'InvalidArgument',
    `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
  );
}

function validateEntry(entry: unknown): Validated {
  if (!isObject(entry)) return invalid('InvalidArgument', 'Entry must be an object.');
  const e = entry as PutEventsEntry;
  // Typed input can still carry anything at runtime (parsed JSON, a cast): check as the service does.
  if (!isNonEmptyString(e.Source)) return missingField('Source');
  if (!isNonEmptyString(e.DetailType)) return missingField('DetailType');
  if (!isNonEmptyString(e.Detail)) return missingField('Detail');
  if (e.Source.startsWith('aws.')) {
    return invalid('NotAuthorizedForSourceException', `Not authorized for the source ${e.Source}.`);
  }
  if (e.Time !== undefined && !(e.Time instanceof Date && Number.isFinite(e.Time.getTime()))) {
    return invalid('InvalidArgument', 'Parameter Time is not valid. Reason: Time must be a valid Date.');
  }
  if (
    e.Resources !== undefined &&
    !(Array.isArray(e.Resources) && e.Resources.every((r) => typeof r === 'string'))
  ) {
    return invalid('InvalidArgument', 'Parameter Resources is not valid. Reason: Resources must be strings.');
  }
  const size = entrySize(e);
  if (size > MAX_ENTRY_BYTES) {
    return invalid('InvalidArgument', `Entry size ${size} bytes exceeds the ${MAX_ENTRY_BYTES}-byte limit.`);
  }
  let detail: unknown;
  try {
    detail = JSON.parse(e.Detail);
  } catch {
    return invalid('MalformedDetail', 'Detail is malformed: it is not valid JSON.');
  }
  if (!isObject(detail)) {
    return invalid('MalformedDetail', 'Detail is malformed: it must be a JSON object.');
  }
  return { ok: true, source: e.Source, detailType: e.DetailType, detail };
}

/** Checks one entry as EventBridge does and, when it is accepted, makes the event it becomes (a fresh id). */
export function eventFromEntry(entry: PutEventsEntry, now: Date, region: string): EntryOutcome {
  const checked = validateEntry(entry);
  if (!checked.ok) return checked;
  const event: BusEvent = {
    version: '0',
    id: randomUUID(),
    'detail-type': checked.detailType,
    source: checked.source,
    account: LOCAL_ACCOUNT_ID,
    time: eventTime(entry.Time ?? now),
    region,
    resources: [...(entry.Resources ?? [])],
    detail: checked.detail,
  };
  return { ok: true, event };
}

function requestError(name: string, message: string): EventBridgeServiceException {
  return new EventBridgeServiceException({ name, message, $fault: 'client', $metadata: {} });
}

/** EventBridge rejects the whole request, not single entries, when the entry count is out of range. */
export function checkEntryCount(entries: readonly PutEventsEntry[]): void {
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_ENTRIES_PER_PUT) {
    const count = Array.isArray(entries) ? entries.length : 0;
    throw requestError(
      'ValidationException',
      `Entries must contain between 1 and ${MAX_ENTRIES_PER_PUT} entries, got ${count}.`,
    );
  }
}

/** What `eventBridgeClientFor` needs of the bus. */
export interface PutEventsHandler {
  putEvents(entries: readonly PutEventsEntry[]): Promise<PutEventsResult>;
}

/** Lets code written against `EventBridgeClient.send(new PutEventsCommand(...))` publish to the local bus. */
export function eventBridgeClientFor(bus: PutEventsHandler): PutEventsSender {
  return {
    async send(command: PutEventsCommand): Promise<PutEventsCommandOutput> {
      if (!(command instanceof PutEventsCommand)) {
        throw new TypeError('The local EventBridge client only supports PutEventsCommand');
      }
      const result = await bus.putEvents(command.input.Entries ?? []);
      return { $metadata: { httpStatusCode: 200, attempts: 1, totalRetryDelay: 0 }, ...result };
    },
  };
}
