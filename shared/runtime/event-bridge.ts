import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { sdkRequestHandler, withoutSdkLogging } from '../adapters/sdk-client.js';
import type { PutEventsSender } from '../adapters/usage-publisher.js';

/**
 * The process's EventBridge client. The local runtime installs its in-process bus here before
 * loading any handler, so the handlers publish to it unchanged.
 */
let client: PutEventsSender | undefined;

export function eventBridgeClient(): PutEventsSender {
  client ??= withoutSdkLogging(
    new EventBridgeClient({ maxAttempts: 3, requestHandler: sdkRequestHandler() }),
  );
  return client;
}

export function setEventBridgeClient(replacement: PutEventsSender): void {
  client = replacement;
}
