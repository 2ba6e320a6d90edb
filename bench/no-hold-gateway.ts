/**
 * A second gateway in this process that is identical to the local runtime's except for the
 * wallet: its hold succeeds at once, without a storage round trip. Comparing the two isolates
 * what the wallet hold costs time-to-first-token.
 *
 * Build it only after startLocalRuntime has set the environment (table names, bus, upstream),
 * so both gateways share tables, keys, catalog and upstream.
 */
import '../local/awslambda-shim.js';
import { randomBytes } from 'node:crypto';
import { type DevServer, type LambdaHandler, startDevServer } from '../local/dev-server.js';
import { readCompletionsConfig } from '../shared/config.js';
import { silentLog } from '../shared/http.js';
import type { WalletStore } from '../shared/ports.js';
import { createCompletionsHandler } from '../shared/runtime/completions-handler.js';
import { createPublicApi } from '../shared/runtime/public-api-wiring.js';

export const MAX_BODY_BYTES = 1_048_576;

/** Admits every request at once and keeps nothing. */
export const instantWallet: WalletStore = {
  placeHold: async () => ({ ok: true }),
  readBalance: async () => Number.MAX_SAFE_INTEGER,
  writeOutbox: async () => {},
};

/** The no-hold gateway has no admin API. */
const noAdmin: LambdaHandler = async () => ({
  statusCode: 404,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    error: { message: 'No admin API here.', type: 'invalid_request_error', param: null, code: 'not_found' },
  }),
});

export function startNoHoldGateway(): Promise<DevServer> {
  const { api } = createPublicApi(readCompletionsConfig(), silentLog, { wallet: instantWallet });
  const handler = createCompletionsHandler(api, { maxBodyBytes: MAX_BODY_BYTES, abortMarginMs: 10_000 });
  return startDevServer({
    port: 0,
    completions: handler as unknown as LambdaHandler,
    admin: noAdmin,
    adminToken: randomBytes(24).toString('base64url'),
    maxBodyBytes: MAX_BODY_BYTES,
  });
}
