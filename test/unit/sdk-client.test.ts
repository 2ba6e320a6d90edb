import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { SDK_LOGGER_MIDDLEWARE, withoutSdkLogging } from '../../shared/adapters/sdk-client.js';
import { eventBridgeClient } from '../../shared/runtime/event-bridge.js';

const names = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack.identify().map((entry) => entry.split(' ')[0]);

describe('SDK clients without the per-call log entry', () => {
  it('a bare SDK client has the logger middleware (the name this module removes)', () => {
    expect(names(new DynamoDBClient({ region: 'us-east-1' }))).toContain(SDK_LOGGER_MIDDLEWARE);
  });

  it('withoutSdkLogging removes it and keeps the rest of the stack', () => {
    const bare = names(new DynamoDBClient({ region: 'us-east-1' }));
    const quiet = names(withoutSdkLogging(new DynamoDBClient({ region: 'us-east-1' })));
    expect(quiet).not.toContain(SDK_LOGGER_MIDDLEWARE);
    expect(quiet).toEqual(bare.filter((name) => name !== SDK_LOGGER_MIDDLEWARE));
  });

  it('the document client the gateway and the ledger use has no logger middleware', () => {
    expect(names(createDocumentClient('http://127.0.0.1:1'))).not.toContain(SDK_LOGGER_MIDDLEWARE);
  });

  it("the process's EventBridge client has no logger middleware", () => {
    expect(names(eventBridgeClient() as EventBridgeClient)).not.toContain(SDK_LOGGER_MIDDLEWARE);
  });
});
