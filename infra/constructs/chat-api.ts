import { Duration, Validations } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { type FunctionUrl, FunctionUrlAuthType, HttpMethod, InvokeMode } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import {
  anthropicRateHeader,
  openAiRateHeader,
  rateHeaderNames,
} from '../../shared/dialects/rate-limit-headers.js';
import type { TiergateConfig } from '../config.js';
import { GatewayFunction } from './gateway-function.js';
import { KeyHolderConsole } from './key-holder-console.js';
import type { LedgerTables } from './ledger-tables.js';

/** Reasoning models can think for many minutes before the first token: allow Lambda's maximum. */
export const COMPLETIONS_TIMEOUT = Duration.minutes(15);
/** How long before the function's own timeout the handler aborts upstream, to still settle and close the stream. */
export const ABORT_MARGIN_MS = 10_000;

/** Gateway headers a browser client may read (DESIGN §2, §12); everything else stays hidden by CORS. */
const EXPOSED_HEADERS = [
  'request-id',
  'x-request-id',
  'x-tier',
  'x-tier-catalog-version',
  'x-tier-route',
  ...rateHeaderNames(openAiRateHeader),
  ...rateHeaderNames(anthropicRateHeader),
  'retry-after',
  'x-should-retry',
  'x-wallet-output-cap',
  'idempotent-replayed',
];

/**
 * Request headers a browser may send. The OpenAI and Anthropic SDKs (Stainless-generated) add
 * their x-stainless-* headers to every request: a preflight that does not allow them fails, and
 * the SDK call never leaves the browser.
 */
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  // x-api-key and the anthropic-* headers: Anthropic's SDKs in a browser (DESIGN §12).
  'x-api-key',
  'anthropic-version',
  'anthropic-beta',
  'anthropic-dangerous-direct-browser-access',
  ...[
    'os',
    'lang',
    'arch',
    'runtime',
    'runtime-version',
    'package-version',
    'retry-count',
    'timeout',
    'helper',
    'helper-method',
  ].map((name) => `x-stainless-${name}`),
];

export interface ChatApiProps {
  readonly config: TiergateConfig;
  readonly tables: LedgerTables;
  readonly bus: IEventBus;
}

/** The public OpenAI-compatible API (streaming Function URL) and the IAM-authenticated admin API. */
export class ChatApi extends Construct {
  readonly completions: GatewayFunction;
  readonly admin: GatewayFunction;
  readonly completionsUrl: FunctionUrl;
  readonly adminUrl: FunctionUrl;
  /** The key holders' console, the one browser origin the public API admits. */
  readonly console: KeyHolderConsole;
  /** Holds the upstream provider's API key; the operator puts the key in after deploy. */
  readonly upstreamKeySecret: Secret;
  /** The key that seals tool-call ids: generated here, never shown, and not rotated with the upstream key. */
  readonly toolCallIdSecret: Secret;

  constructor(scope: Construct, id: string, props: ChatApiProps) {
    super(scope, id);
    const { config, tables, bus } = props;

    // Created empty of any real value (Secrets Manager generates a random placeholder): the key never passes
    // through CDK, the template or an environment variable.
    this.upstreamKeySecret = new Secret(this, 'UpstreamApiKey', {
      description:
        'Tiergate upstream API key (e.g. OpenRouter). Replace the placeholder with put-secret-value.',
    });
    Validations.of(this.upstreamKeySecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Third-party API key issued by the upstream provider: it cannot be rotated by a Lambda here; the operator ' +
        'rotates it at the provider and stores the new value with put-secret-value.',
    });

    // Its own key, so a rotation of the upstream key does not break tool-call ids that clients still hold.
    this.toolCallIdSecret = new Secret(this, 'ToolCallIdKey', {
      description: 'Tiergate tool-call id sealing key (generated; used by the completions function only).',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    Validations.of(this.toolCallIdSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Seals the tool-call ids clients hold between a tool call and its result: rotating it would make the ids ' +
        'of conversations in flight unreadable. It never leaves the completions function and guards no access.',
    });

    this.completions = new GatewayFunction(this, 'Completions', {
      entry: 'completions',
      description:
        'Tiergate public API: /v1/chat/completions, /v1/messages, /v1/models, /v1/key, /v1/usage, /health',
      logRetention: config.logRetentionDays,
      timeout: COMPLETIONS_TIMEOUT,
      // Lambda gives CPU in proportion to memory (1,769 MB = 1 vCPU). 896 MB keeps the gateway's own CPU before
      // the first token within 2 ms of 1,024 MB's (README, "What it costs"), and bills 12.5% less per second.
      memorySize: 896,
    })
      .setEnvironment(ENV.upstreamBaseUrl, config.upstreamBaseUrl)
      .setEnvironment(ENV.abortMarginMs, String(ABORT_MARGIN_MS))
      .setEnvironment(ENV.probeIntervalMinutes, String(config.probeIntervalMinutes))
      // Reads keys, wallets, catalog and guardrail state; writes holds and rate windows (TransactWriteItems).
      // No DeleteItem: settling a hold is billing's and the reconciler's job alone.
      .bindTable(tables.ledger, {
        items: ['GetItem', 'PutItem', 'UpdateItem', 'ConditionCheckItem'],
        query: ['table'],
      })
      // A key holder's usage and recent requests: a Query of their account's partition, never a scan or an index.
      .bindTable(tables.requestLog, { items: [], query: ['table'] })
      .bindBus(bus)
      .bindSecret(this.upstreamKeySecret)
      .bindSecret(this.toolCallIdSecret, ENV.toolCallIdSecretArn);

    this.console = new KeyHolderConsole(this, 'KeyHolderConsole', { config, publicApi: this.completions });

    this.completionsUrl = this.completions.function.addFunctionUrl({
      // The handler authenticates every request with its bearer key (DESIGN §2).
      authType: FunctionUrlAuthType.NONE,
      invokeMode: InvokeMode.RESPONSE_STREAM,
      cors: {
        // The console's origin only (DESIGN §15): other browser pages cannot call the API with a key they
        // trick a user into pasting. Servers and SDKs outside a browser are not subject to CORS. Credentials
        // are never allowed: auth is a bearer key, not a cookie.
        allowedOrigins: [this.console.origin],
        allowedMethods: [HttpMethod.POST, HttpMethod.GET],
        allowedHeaders: ALLOWED_HEADERS,
        exposedHeaders: EXPOSED_HEADERS,
        allowCredentials: false,
        maxAge: Duration.days(1),
      },
    });

    this.admin = new GatewayFunction(this, 'Admin', {
      entry: 'admin',
      description: 'Tiergate admin API (/admin/*), SigV4 only',
      logRetention: config.logRetentionDays,
    })
      .setEnvironment(ENV.dailySpendCapUsd, String(config.dailySpendCapUsd))
      .bindTable(tables.ledger, {
        // BatchGetItem: the wallets of a page of `accounts list`.
        items: [
          'GetItem',
          'BatchGetItem',
          'PutItem',
          'UpdateItem',
          'DeleteItem',
          'ConditionCheckItem',
          'BatchWriteItem',
        ],
        query: ['table', ...tables.ledger.definition.globalSecondaryIndexes.map((index) => index.indexName)],
      })
      // Read-only: the request log is written by billing and the reconciler alone.
      .bindTable(tables.requestLog, {
        items: ['GetItem'],
        query: [
          'table',
          ...tables.requestLog.definition.globalSecondaryIndexes.map((index) => index.indexName),
        ],
      });

    // AWS_IAM: only principals allowed lambda:InvokeFunctionUrl in this account (the operator's CLI) get in.
    this.adminUrl = this.admin.function.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
  }
}
