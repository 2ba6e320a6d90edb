import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startDynamoDbLocal } from '../../local/dynamodb-local.js';

/** Starting DynamoDB Local survives a free port that another process took before Java bound it. */

describe('startDynamoDbLocal', () => {
  const held: Server[] = [];
  afterAll(() => Promise.all(held.map((s) => new Promise((r) => s.close(r)))));

  it('starts on another port when the one it picked is taken', async () => {
    const taken = await freePort();
    const squatter = createServer((socket) => socket.destroy());
    held.push(squatter);
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
    const picked: number[] = [];
    const dynamo = await startDynamoDbLocal({}, async () => {
      const port = picked.length === 0 ? taken : await freePort();
      picked.push(port);
      return port;
    });
    try {
      expect(picked).toHaveLength(2);
      expect(dynamo.endpoint).toBe(`http://127.0.0.1:${picked[1]}`);
      expect(picked[1]).not.toBe(taken);
    } finally {
      await dynamo.stop();
    }
  }, 120_000);
});
