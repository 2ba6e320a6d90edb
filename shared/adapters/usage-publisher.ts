import { PutEventsCommand, type PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE, type UsageRecord } from '../domain/usage.js';
import type { UsagePublisher } from '../ports.js';

/** The part of `EventBridgeClient` the publisher uses; a real client satisfies it, and so does the local bus's. */
export interface PutEventsSender {
  send(command: PutEventsCommand, options?: { abortSignal?: AbortSignal }): Promise<PutEventsCommandOutput>;
}

/**
 * How long a usage event may take to publish, the SDK's retries included, before the request falls
 * back to the outbox. A request cut off at its deadline has the function's abort margin (10 s) left
 * for its input estimate (at most 2 s), this and the outbox write: without a bound, three attempts at
 * the SDK's 5 s timeout outlast the margin, and Lambda ends the function before the outbox is written.
 */
export const PUBLISH_TIMEOUT_MS = 4_000;

export class EventBridgeUsagePublisher implements UsagePublisher {
  constructor(
    private readonly client: PutEventsSender,
    private readonly busName: string,
    private readonly timeoutMs = PUBLISH_TIMEOUT_MS,
  ) {}

  async publish(usage: UsageRecord): Promise<void> {
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: this.busName,
            Source: USAGE_SOURCE,
            DetailType: USAGE_DETAIL_TYPE,
            Detail: JSON.stringify(usage),
          },
        ],
      }),
      { abortSignal: AbortSignal.timeout(this.timeoutMs) },
    );
    if ((out.FailedEntryCount ?? 0) > 0) {
      throw new Error(`PutEvents rejected the usage event: ${out.Entries?.[0]?.ErrorCode ?? 'unknown'}`);
    }
  }
}
