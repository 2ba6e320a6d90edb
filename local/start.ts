import { ENV } from '../shared/config.js';
import { startLocalRuntime } from './runtime.js';

/** `npm start`: the whole gateway on loopback, with embedded defaults. */
async function main(): Promise<void> {
  const env = process.env;
  const runtime = await startLocalRuntime({
    ...(env.PORT ? { port: Number(env.PORT) } : {}),
    ...(env.TIERGATE_ADMIN_TOKEN ? { adminToken: env.TIERGATE_ADMIN_TOKEN } : {}),
    ...(env.DYNAMODB_ENDPOINT ? { dynamodbEndpoint: env.DYNAMODB_ENDPOINT } : {}),
    ...(env.TIERGATE_DATA_DIR ? { dataDir: env.TIERGATE_DATA_DIR } : {}),
    ...(env[ENV.upstreamBaseUrl] ? { upstreamBaseUrl: env[ENV.upstreamBaseUrl] } : {}),
    ...(env[ENV.upstreamApiKey] ? { upstreamApiKey: env[ENV.upstreamApiKey] } : {}),
    ...(env[ENV.dailySpendCapUsd] ? { dailySpendCapUsd: Number(env[ENV.dailySpendCapUsd]) } : {}),
  });
  const upstream = runtime.upstream ? `demo upstream (${runtime.upstreamBaseUrl})` : runtime.upstreamBaseUrl;
  process.stdout.write(
    [
      '',
      `Tiergate is running at ${runtime.url}  (upstream: ${upstream})`,
      '',
      `  API base URL   ${runtime.url}/v1`,
      `  Admin URL      ${runtime.adminUrl}`,
      `  Admin token    ${runtime.adminToken}`,
      `  Demo API key   ${runtime.apiKey}   (account ${runtime.accountId}, $5.00 demo credit)`,
      '',
      'Try it:',
      `  curl -s ${runtime.url}/v1/chat/completions -H "Authorization: Bearer ${runtime.apiKey}" -H "Content-Type: application/json" -d '{"model":"tier-2","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
      'Admin CLI (in another terminal):',
      `  TIERGATE_ADMIN_TOKEN=${runtime.adminToken} npx tiergate accounts show ${runtime.accountId}`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
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
