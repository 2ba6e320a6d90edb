import { parseArgs } from 'node:util';
import { ENV } from '../shared/config.js';
import { formatAccessLine } from './access-log.js';
import { startBanner } from './banner.js';
import { startLocalRuntime } from './runtime.js';

const USAGE = `Usage: npm start [-- --quiet]

  --quiet  no access-log line per request`;

/** `npm start`: the whole gateway on loopback, with embedded defaults. */
async function main(): Promise<void> {
  let values: { quiet?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`tiergate: ${(err as Error).message.split('\n')[0]}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const quiet = values.quiet === true;
  const env = process.env;
  const runtime = await startLocalRuntime({
    ...(env.PORT ? { port: Number(env.PORT) } : {}),
    ...(env.TIERGATE_ADMIN_TOKEN ? { adminToken: env.TIERGATE_ADMIN_TOKEN } : {}),
    ...(env.DYNAMODB_ENDPOINT ? { dynamodbEndpoint: env.DYNAMODB_ENDPOINT } : {}),
    ...(env.TIERGATE_DATA_DIR ? { dataDir: env.TIERGATE_DATA_DIR } : {}),
    ...(env[ENV.upstreamBaseUrl] ? { upstreamBaseUrl: env[ENV.upstreamBaseUrl] } : {}),
    ...(env[ENV.upstreamApiKey] ? { upstreamApiKey: env[ENV.upstreamApiKey] } : {}),
    ...(quiet ? {} : { accessLog: (entry) => process.stdout.write(`${formatAccessLine(entry)}\n`) }),
  });
  process.stdout.write(startBanner(runtime, { quiet, dataDir: env.TIERGATE_DATA_DIR }));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping…\n`);
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`tiergate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
