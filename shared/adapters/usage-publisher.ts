import { PutEventsCommand, type PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { USAGE_DETAIL_TYPE, USAGE_SOURCE, type UsageRecord } from '../domain/usage.js';
import type { UsagePublisher } from '../ports.js';

/** The part of `EventBridgeClient` the publisher uses; a real client satisfies it, and so does the local bus's. */
export interface PutEventsSender {
  send(command: PutEventsCommand): Promise<PutEventsCommandOutput>;
}

export class EventBridgeUsagePublisher implements UsagePublisher {
  constructor(
    private readonly client: PutEventsSender,
    private readonly busName: string,
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
    );
    if ((out.FailedEntryCount ?? 0) > 0) {
      throw new Error(`PutEvents rejected the usage event: ${out.Entries?.[0]?.ErrorCode ?? 'unknown'}`);
    }
  }
}
