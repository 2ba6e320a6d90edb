import { formatMicros } from '../shared/domain/money.js';
import type { LocalRuntime } from './runtime.js';

/** What `npm start` prints once everything is up: working URLs, credentials and commands. */
export function startBanner(
  runtime: Pick<
    LocalRuntime,
    | 'url'
    | 'adminUrl'
    | 'adminToken'
    | 'apiKey'
    | 'accountId'
    | 'demoBalanceMicros'
    | 'reused'
    | 'upstream'
    | 'upstreamBaseUrl'
  >,
  options: { quiet: boolean; dataDir?: string | undefined },
): string {
  const upstream = runtime.upstream ? `demo upstream (${runtime.upstreamBaseUrl})` : runtime.upstreamBaseUrl;
  const demo = `account ${runtime.accountId}, $${formatMicros(runtime.demoBalanceMicros)} demo credit`;
  return [
    '',
    `Tiergate is running at ${runtime.url}  (upstream: ${upstream})`,
    '',
    `  API base URL   ${runtime.url}/v1`,
    `  Console        ${runtime.url}/console   (paste the demo API key)`,
    `  Admin URL      ${runtime.adminUrl}`,
    `  Admin token    ${runtime.adminToken}`,
    `  Demo API key   ${runtime.apiKey}   (${demo})`,
    ...(runtime.reused && options.dataDir
      ? [`                 reused from ${options.dataDir}; delete tiergate-local.json there for new ones`]
      : []),
    '',
    'Try it:',
    `  curl -s ${runtime.url}/v1/chat/completions -H "Authorization: Bearer ${runtime.apiKey}" -H "Content-Type: application/json" -d '{"model":"tier-2","messages":[{"role":"user","content":"Hello"}]}'`,
    '',
    'Admin CLI and synthetic probe (in another terminal):',
    `  export TIERGATE_ADMIN_URL=${runtime.adminUrl} TIERGATE_ADMIN_TOKEN=${runtime.adminToken}`,
    `  npx tiergate accounts show ${runtime.accountId}`,
    '  npm run probe',
    '',
    options.quiet
      ? 'Access log off (--quiet).'
      : 'Access log below: time, method, path, status, tier, duration, charge, request id (--quiet turns it off).',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
