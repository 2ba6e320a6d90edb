import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';

/**
 * An AWS endpoint that accepts the connection and never answers: without a request timeout the
 * SDK would wait on it for as long as the function lives, and this test would hang until vitest's.
 */
describe('AWS calls to an endpoint that never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let endpoint: string;

  beforeAll(async () => {
    server = createServer((socket) => sockets.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    endpoint = `http://127.0.0.1:${address.port}`;
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });

  it('fail with a TimeoutError after their attempts, instead of waiting forever', async () => {
    const db = createDocumentClient(endpoint, undefined, 200);
    const call = db.send(new GetCommand({ TableName: 'ledger', Key: { pk: 'a', sk: 'b' } }));
    await expect(call).rejects.toMatchObject({ name: 'TimeoutError' });
    // The endpoint was reached: the call timed out waiting for its answer.
    expect(sockets.length).toBeGreaterThanOrEqual(1);
  });
});
