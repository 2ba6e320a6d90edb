import './awslambda-shim.js';
import { randomBytes } from 'node:crypto';
import { buildConsolePage } from '../console/build.js';
import { DynamoAccountStore } from '../shared/adapters/dynamodb/account-store.js';
import { createDocumentClient } from '../shared/adapters/dynamodb/client.js';
import { DynamoKeyStore } from '../shared/adapters/dynamodb/key-store.js';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_UPSTREAM_BASE_URL,
  ENV,
  optionalEnv,
  probeIntervalMinutes,
} from '../shared/config.js';
import { hashApiKey } from '../shared/domain/keys.js';
import { USAGE_RULES } from '../shared/events/rules.js';
import { createProbeEnv } from '../shared/probe/env.js';
import { type ProbeRun, probeRunSucceeded, runProbe as runProbeOnce } from '../shared/probe/runner.js';
import { createConsoleHandler } from '../shared/runtime/console-handler.js';
import { setEventBridgeClient } from '../shared/runtime/event-bridge.js';
import { createMetrics, publishProbeSuccess } from '../shared/runtime/metrics.js';
import { type AccessLogEntry, UsageCharges, watchAccessLog } from './access-log.js';
import { type DemoUpstream, type DemoUpstreamOptions, startDemoUpstream } from './demo-upstream.js';
import { type DevServer, type LambdaHandler, startDevServer } from './dev-server.js';
import { createTables, type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local.js';
import { LocalEventBus, type LocalEventBusOptions } from './event-bus.js';
import { type LocalState, loadLocalState, newToolCallIdSecret, saveLocalState } from './local-state.js';
import { type BusEvent, eventBridgeClientFor } from './put-events.js';

/**
 * The whole gateway on one machine: DynamoDB Local, the in-process event bus, the demo upstream
 * and the very handler modules that deploy to Lambda, behind node:http.
 */

export interface LocalRuntimeOptions {
  /** 0 picks a free port. Default: PORT or 8787. */
  port?: number;
  adminToken?: string;
  /** Use a running DynamoDB Local instead of starting one. */
  dynamodbEndpoint?: string;
  /**
   * Persist DynamoDB Local's data here, and the admin token, demo account and tool-call id key
   * (tiergate-local.json, mode 0600), so a restart reuses them; in memory when unset.
   */
  dataDir?: string;
  /** Prefix of the table names, so several runtimes can share one DynamoDB Local. */
  tablePrefix?: string;
  /** A real upstream; the demo upstream is used when unset. */
  upstreamBaseUrl?: string;
  upstreamApiKey?: string;
  demoUpstream?: DemoUpstreamOptions;
  dailySpendCapUsd?: number;
  /** Credit of the ready-made demo account. */
  demoCreditUsd?: number;
  bus?: LocalEventBusOptions;
  /** Extra environment for the handlers, e.g. shorter cache TTLs in tests. */
  env?: Record<string, string>;
  /** How often the local scheduler runs the reconciler; 0 turns the schedule off. Default 60 s. */
  reconcileEveryMs?: number;
  /**
   * How often the local scheduler runs the synthetic probe; its first run follows shortly after start, so
   * /health turns 200. 0 turns it off. Default: every PROBE_INTERVAL_MINUTES (else 360) minutes on a fixed port,
   * as `npm start` listens; off on an ephemeral port (port 0), where tests and the benchmark embed the runtime:
   * they must see only their own requests and spend, and call `runProbe()` when they want a probe.
   */
  probeEveryMs?: number;
  /** Called once per request with its access-log entry (`npm start` prints them). */
  accessLog?: (entry: AccessLogEntry) => void;
}

export interface LocalRuntime {
  url: string;
  port: number;
  adminUrl: string;
  adminToken: string;
  apiKey: string;
  accountId: string;
  /** The demo account's balance at start (its $5 of credit, less what a reused account spent). */
  demoBalanceMicros: number;
  /** true when the admin token and demo account were reused from the data dir. */
  reused: boolean;
  dynamodbEndpoint: string;
  tables: { ledger: string; requestLog: string };
  /** The demo upstream, unless a real upstream was configured. */
  upstream: DemoUpstream | undefined;
  upstreamBaseUrl: string;
  bus: LocalEventBus;
  /** Runs the reconciler once, as its schedule would. */
  runReconciler(): Promise<void>;
  /**
   * Runs the synthetic probe once (the state machine's steps, in order, against this runtime) and records the
   * result, so /health reflects it. Calls made while a run is under way share that run.
   */
  runProbe(): Promise<ProbeRun>;
  close(): Promise<void>;
}

/** The local scheduler's first probe run, this long after start. */
export const PROBE_FIRST_RUN_DELAY_MS = 1_000;
/** VerifyBilling's bound locally: the local bus settles in milliseconds, so this only bounds a broken one. */
const LOCAL_BILLING_TIMEOUT_MS = 30_000;
const LOCAL_POLL_INTERVAL_MS = 100;

// Before any AWS SDK client exists: the SDK's Node-version notice is noise for a local runtime.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let started = false;

/** The probe interval the local handlers use for /health freshness. */
const probeIntervalMs = (): number => probeIntervalMinutes() * 60_000;

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  // Handler modules read their configuration once, at import: one runtime per process.
  if (started) throw new Error('A local runtime is already running in this process');
  started = true;
  const cleanups: Array<() => Promise<void>> = [];
  try {
    let dynamodbEndpoint = options.dynamodbEndpoint;
    if (!dynamodbEndpoint) {
      const dynamo: DynamoDbLocal = await startDynamoDbLocal(
        options.dataDir ? { dataDir: options.dataDir } : {},
      );
      cleanups.push(() => dynamo.stop());
      dynamodbEndpoint = dynamo.endpoint;
    }
    const tables = await createTables(dynamodbEndpoint, options.tablePrefix ?? 'tiergate');

    let upstream: DemoUpstream | undefined;
    let upstreamBaseUrl: string;
    if (options.upstreamBaseUrl || options.upstreamApiKey) {
      // A key without a base URL means OpenRouter, the default upstream.
      upstreamBaseUrl = options.upstreamBaseUrl ?? DEFAULT_UPSTREAM_BASE_URL;
    } else {
      const demo = await startDemoUpstream(options.demoUpstream ?? {});
      upstream = demo;
      cleanups.push(() => demo.close());
      upstreamBaseUrl = demo.baseUrl;
    }

    const saved = options.dataDir ? loadLocalState(options.dataDir) : undefined;
    const toolCallIdSecret =
      optionalEnv(ENV.toolCallIdSecret) ?? saved?.toolCallIdSecret ?? newToolCallIdSecret();

    const busName = 'tiergate-local';
    Object.assign(process.env, {
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      // EMF lines only when asked for (POWERTOOLS_METRICS_DISABLED=false): they would flood the terminal.
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
      POWERTOOLS_TRACE_ENABLED: 'false',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      [ENV.dynamodbEndpoint]: dynamodbEndpoint,
      [ENV.ledgerTable]: tables.ledger,
      [ENV.requestLogTable]: tables.requestLog,
      [ENV.eventBus]: busName,
      [ENV.upstreamBaseUrl]: upstreamBaseUrl,
      [ENV.upstreamApiKey]: options.upstreamApiKey ?? '',
      [ENV.toolCallIdSecret]: toolCallIdSecret,
      // The handlers validate it (a bad value stops the start with its name).
      [ENV.dailySpendCapUsd]:
        options.dailySpendCapUsd === undefined
          ? (optionalEnv(ENV.dailySpendCapUsd) ?? '100')
          : String(options.dailySpendCapUsd),
      ...options.env,
    });

    // Lambda invokes consumers with the EventBridge event and a context; so does the local bus.
    const invoke = (handler: LambdaHandler) => async (event: BusEvent) => {
      await handler(event, {
        functionName: 'local',
        awsRequestId: event.id,
        getRemainingTimeInMillis: () => 60_000,
      });
    };
    // The bus exists before the handlers load: they take the process's EventBridge client at import.
    const consumers: { billing?: LambdaHandler; guardrail?: LambdaHandler } = {};
    const bus = new LocalEventBus(
      USAGE_RULES,
      {
        billing: (event) => invoke(consumers.billing as LambdaHandler)(event),
        guardrail: (event) => invoke(consumers.guardrail as LambdaHandler)(event),
      },
      options.bus ?? {},
    );
    const charges = new UsageCharges();
    setEventBridgeClient(charges.tap(eventBridgeClientFor(bus)));
    cleanups.push(() => bus.close());
    const [completions, admin, billing, guardrail, reconciler] = await Promise.all([
      import('../lambdas/completions/handler.js'),
      import('../lambdas/admin/handler.js'),
      import('../lambdas/billing/handler.js'),
      import('../lambdas/guardrail/handler.js'),
      import('../lambdas/reconciler/handler.js'),
    ]);
    consumers.billing = billing.handler as unknown as LambdaHandler;
    consumers.guardrail = guardrail.handler as unknown as LambdaHandler;
    const runReconciler = async () => {
      await (reconciler.handler as unknown as LambdaHandler)(
        { source: 'aws.scheduler', 'detail-type': 'Scheduled Event' },
        {
          functionName: 'local-reconciler',
          awsRequestId: randomBytes(8).toString('hex'),
          getRemainingTimeInMillis: () => 300_000,
        },
      );
    };
    // The local scheduler: the stack runs the reconciler on an EventBridge Scheduler schedule.
    const reconcileEveryMs = options.reconcileEveryMs ?? 60_000;
    if (reconcileEveryMs > 0) {
      const timer = setInterval(() => void runReconciler().catch(() => {}), reconcileEveryMs);
      timer.unref();
      cleanups.push(async () => clearInterval(timer));
    }

    const adminToken =
      options.adminToken ?? saved?.adminToken ?? `tga-${randomBytes(24).toString('base64url')}`;
    const requestedPort = options.port ?? Number(process.env.PORT ?? 8787);
    // The console's page, built now; it calls the API on its own origin.
    const consolePage = createConsoleHandler(buildConsolePage(), async () => '');
    const server: DevServer = await startDevServer({
      port: requestedPort,
      completions: completions.handler as unknown as LambdaHandler,
      admin: admin.handler as unknown as LambdaHandler,
      console: consolePage as unknown as LambdaHandler,
      adminToken,
      maxBodyBytes: Number(process.env[ENV.maxBodyBytes] ?? DEFAULT_MAX_BODY_BYTES),
    });
    cleanups.push(() => server.close());
    const { accessLog } = options;
    if (accessLog) {
      const stop = watchAccessLog(() => server.port, charges, accessLog);
      cleanups.push(async () => stop());
    }

    // ProbeSuccess as the probe function's Record task publishes it (printed only with metrics on).
    const probeMetrics = createMetrics();
    let probeInFlight: Promise<ProbeRun> | undefined;
    const runProbe = (): Promise<ProbeRun> => {
      probeInFlight ??= runProbeOnce(
        createProbeEnv({
          publicUrl: server.url,
          adminUrl: `${server.url}/admin`,
          adminToken,
          billingTimeoutMs: LOCAL_BILLING_TIMEOUT_MS,
          pollIntervalMs: LOCAL_POLL_INTERVAL_MS,
        }),
      )
        .then((run) => {
          publishProbeSuccess(probeMetrics, probeRunSucceeded(run));
          return run;
        })
        .finally(() => {
          probeInFlight = undefined;
        });
      return probeInFlight;
    };
    // The local scheduler: the stack runs the probe state machine on an EventBridge Scheduler schedule.
    const probeEveryMs = options.probeEveryMs ?? (requestedPort === 0 ? 0 : probeIntervalMs());
    if (probeEveryMs > 0) {
      const scheduled = () =>
        void runProbe().then(
          ({ result, recorded, recordError }) => {
            if (!result.passed) {
              const step = result.steps?.find((s) => !s.passed);
              process.stderr.write(
                `tiergate: synthetic probe failed at ${result.failingStep}${step?.error ? `: ${step.error}` : ''}\n`,
              );
            } else if (!recorded) {
              process.stderr.write(`tiergate: synthetic probe result not recorded: ${recordError}\n`);
            }
          },
          () => {},
        );
      const first = setTimeout(scheduled, Math.min(PROBE_FIRST_RUN_DELAY_MS, probeEveryMs));
      const timer = setInterval(scheduled, probeEveryMs);
      first.unref();
      timer.unref();
      cleanups.push(async () => {
        clearTimeout(first);
        clearInterval(timer);
      });
    }
    // Runs before the server closes (cleanups run in reverse): a run under way finishes against a live server.
    cleanups.push(async () => {
      await probeInFlight?.catch(() => {});
    });

    const db = createDocumentClient(dynamodbEndpoint);
    const accounts = new DynamoAccountStore(db, tables.ledger);
    const demo =
      (saved?.demo && (await reusableDemo(accounts, new DynamoKeyStore(db, tables.ledger), saved.demo))) ??
      (await createDemo(accounts, options.demoCreditUsd ?? 5));
    if (options.dataDir) {
      const state: LocalState = {
        // A token given by TIERGATE_ADMIN_TOKEN is the user's to keep; only a generated one is saved.
        ...(options.adminToken
          ? saved?.adminToken
            ? { adminToken: saved.adminToken }
            : {}
          : { adminToken }),
        demo: { accountId: demo.accountId, apiKey: demo.apiKey },
        toolCallIdSecret,
      };
      saveLocalState(options.dataDir, state);
    }

    return {
      url: server.url,
      port: server.port,
      adminUrl: `${server.url}/admin`,
      adminToken,
      apiKey: demo.apiKey,
      accountId: demo.accountId,
      demoBalanceMicros: demo.balanceMicros,
      reused: demo.reused,
      dynamodbEndpoint,
      tables,
      upstream,
      upstreamBaseUrl,
      bus,
      runReconciler,
      runProbe,
      close: async () => {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
        started = false;
      },
    };
  } catch (err) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    started = false;
    throw err;
  }
}

interface Demo {
  accountId: string;
  apiKey: string;
  balanceMicros: number;
  reused: boolean;
}

async function createDemo(accounts: DynamoAccountStore, creditUsd: number): Promise<Demo> {
  const created = await accounts.createAccount('demo', Math.round(creditUsd * 1_000_000));
  return {
    accountId: created.account.id,
    apiKey: created.apiKey.key,
    balanceMicros: created.account.balanceMicros,
    reused: false,
  };
}

/** The saved demo account, while it still exists with its saved key active. */
async function reusableDemo(
  accounts: DynamoAccountStore,
  keys: DynamoKeyStore,
  saved: { accountId: string; apiKey: string },
): Promise<Demo | undefined> {
  const account = await accounts.getAccount(saved.accountId).catch(() => undefined);
  const key = await keys.findByHash(hashApiKey(saved.apiKey));
  if (!account || key?.status !== 'active' || key.accountId !== account.id) return undefined;
  return { accountId: account.id, apiKey: saved.apiKey, balanceMicros: account.balanceMicros, reused: true };
}
