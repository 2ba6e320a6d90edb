import { setTimeout as delay } from 'node:timers/promises';
import { AdminClient, type AdminRequest } from '../admin-client/client.js';
import { type CredentialSource, defaultCredentialSource, lambdaUrlRegion } from '../admin-client/sigv4.js';
import { intEnv, optionalEnv, requireEnv } from '../config.js';

/** What the admin API is to the probe: a JSON request, rejected with an error carrying `status` on HTTP errors. */
export interface ProbeAdmin {
  send(request: AdminRequest): Promise<unknown>;
}

/** Everything a probe step touches, so the same steps run in Lambda, in the local runtime and from the CLI. */
export interface ProbeEnv {
  /** Public API root, as a client would use it (no trailing slash): `<publicUrl>/v1/chat/completions`. */
  publicUrl: string;
  /** The admin API, authenticated: SigV4 for a Lambda Function URL, the bearer admin token locally. */
  admin: ProbeAdmin;
  fetch: typeof fetch;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Bound of each public API call. */
  requestTimeoutMs: number;
  /** How long VerifyBilling polls for the settled request log before it fails, and how often. */
  billingTimeoutMs: number;
  pollIntervalMs: number;
}

/** Environment variables of the probe function (and of `npm run probe`'s defaults). */
export const PROBE_ENV = {
  publicUrl: 'PROBE_PUBLIC_URL',
  adminUrl: 'PROBE_ADMIN_URL',
  /** Only for a local admin API; a Lambda Function URL is signed with the execution role instead. */
  adminToken: 'TIERGATE_ADMIN_TOKEN',
  billingTimeoutMs: 'PROBE_BILLING_TIMEOUT_MS',
  pollIntervalMs: 'PROBE_POLL_INTERVAL_MS',
} as const;

export const PROBE_DEFAULTS = {
  requestTimeoutMs: 60_000,
  billingTimeoutMs: 60_000,
  pollIntervalMs: 1_000,
} as const;

/** Where a probe runs against and how it authenticates. */
export interface ProbeTarget {
  publicUrl: string;
  adminUrl: string;
  adminToken?: string;
  /** For a Lambda Function URL admin API; default: the AWS credential chain of the process environment. */
  credentials?: CredentialSource;
  requestTimeoutMs?: number;
  billingTimeoutMs?: number;
  pollIntervalMs?: number;
  fetch?: typeof fetch;
}

/** Thrown for a target that cannot work, e.g. a local admin URL without a token. */
export class ProbeConfigError extends Error {
  override readonly name = 'ProbeConfigError';
}

/** Validates a target: both URLs http(s), and a token unless the admin URL is a Lambda Function URL. */
export function checkProbeTarget(target: ProbeTarget): ProbeTarget {
  for (const [what, url] of [
    ['public URL', target.publicUrl],
    ['admin URL', target.adminUrl],
  ] as const) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      throw new ProbeConfigError(`The probe's ${what} must be an http(s) URL, got "${url}"`);
    }
  }
  if (!lambdaUrlRegion(new URL(target.adminUrl).hostname) && !target.adminToken) {
    throw new ProbeConfigError(
      `An admin token is needed for the admin API at ${target.adminUrl} (${PROBE_ENV.adminToken} or --token)`,
    );
  }
  return target;
}

/** The probe function's target, read once at cold start; a missing variable fails there. */
export function probeTargetFromEnv(): ProbeTarget {
  const adminToken = optionalEnv(PROBE_ENV.adminToken);
  return checkProbeTarget({
    publicUrl: requireEnv(PROBE_ENV.publicUrl),
    adminUrl: requireEnv(PROBE_ENV.adminUrl),
    ...(adminToken ? { adminToken } : {}),
    billingTimeoutMs: intEnv(PROBE_ENV.billingTimeoutMs, PROBE_DEFAULTS.billingTimeoutMs),
    pollIntervalMs: intEnv(PROBE_ENV.pollIntervalMs, PROBE_DEFAULTS.pollIntervalMs),
  });
}

export const sleep = (ms: number): Promise<void> => delay(ms);

/**
 * A ProbeEnv for the target. Build one per run: credentials are read from the environment now, so a long-lived
 * process (or a warm Lambda) never signs with stale ones.
 */
export function createProbeEnv(target: ProbeTarget): ProbeEnv {
  const fetchFn = target.fetch ?? fetch;
  return {
    publicUrl: target.publicUrl.replace(/\/+$/, ''),
    admin: new AdminClient({
      baseUrl: target.adminUrl,
      ...(target.adminToken ? { token: target.adminToken } : {}),
      fetch: fetchFn,
      credentials: target.credentials ?? defaultCredentialSource(process.env),
    }),
    fetch: fetchFn,
    now: Date.now,
    sleep,
    requestTimeoutMs: target.requestTimeoutMs ?? PROBE_DEFAULTS.requestTimeoutMs,
    billingTimeoutMs: target.billingTimeoutMs ?? PROBE_DEFAULTS.billingTimeoutMs,
    pollIntervalMs: target.pollIntervalMs ?? PROBE_DEFAULTS.pollIntervalMs,
  };
}
