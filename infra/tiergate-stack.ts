import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { TiergateConfig } from './config.js';
import { ChatApi } from './constructs/chat-api.js';
import { LedgerTables } from './constructs/ledger-tables.js';
import { dashboardUrl, Observability } from './constructs/observability.js';
import { SpendGuardrail } from './constructs/spend-guardrail.js';
import { SyntheticProbe } from './constructs/synthetic-probe.js';
import { UsagePipeline } from './constructs/usage-pipeline.js';

export interface TiergateStackProps extends StackProps {
  readonly config: TiergateConfig;
}

/**
 * The whole gateway in one stack, one construct per capability. Environment-agnostic (no account or region
 * baked in), so it synthesizes offline and deploys wherever the CLI's credentials point.
 *
 * Tests skip esbuild with CDK's own `aws:cdk:bundling-stacks: []` context rather than a test-only code path: the
 * functions they assert on are the GatewayFunctions that deploy, only their asset is not built.
 */
export class TiergateStack extends Stack {
  readonly tables: LedgerTables;
  readonly guardrail: SpendGuardrail;
  readonly usage: UsagePipeline;
  readonly api: ChatApi;
  readonly observability: Observability;
  readonly probe: SyntheticProbe;

  constructor(scope: Construct, id: string, props: TiergateStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.tables = new LedgerTables(this, 'Tables');
    this.guardrail = new SpendGuardrail(this, 'SpendGuardrail', { config, tables: this.tables });
    this.usage = new UsagePipeline(this, 'Usage', {
      config,
      tables: this.tables,
      consumers: { guardrail: this.guardrail.function },
    });
    this.api = new ChatApi(this, 'Api', { config, tables: this.tables, bus: this.usage.bus });
    this.observability = new Observability(this, 'Observability', {
      config,
      completions: this.api.completions,
      reconciler: this.usage.reconciler,
      deadLetterQueues: this.usage.deadLetterQueues,
    });
    this.probe = new SyntheticProbe(this, 'SyntheticProbe', {
      config,
      publicUrl: this.api.completionsUrl,
      adminUrl: this.api.adminUrl,
    });
    this.observability.addProbeAlarms(config.probeIntervalMinutes, this.probe.stateMachine);

    new CfnOutput(this, 'ApiUrl', {
      description: 'Public API root (/health, /v1/...); OpenAI SDKs take <ApiUrl>v1 as their base URL',
      value: this.api.completionsUrl.url,
    });
    new CfnOutput(this, 'ConsoleUrl', {
      description: "Key holders' console: balance, spend per day and tier, recent requests, a playground",
      value: this.api.console.pageUrl,
    });
    new CfnOutput(this, 'AdminUrl', {
      description: 'Admin API (SigV4): TIERGATE_ADMIN_URL for the tiergate CLI',
      value: this.api.adminUrl.url,
    });
    new CfnOutput(this, 'AdminFunctionArn', {
      description:
        'Grant the CLI user lambda:InvokeFunctionUrl (and lambda:InvokeFunction via the URL) on this',
      value: this.api.admin.function.functionArn,
    });
    new CfnOutput(this, 'DashboardUrl', { value: dashboardUrl(this.observability.dashboard) });
    new CfnOutput(this, 'LedgerTableName', { value: this.tables.ledger.table.tableName });
    new CfnOutput(this, 'RequestLogTableName', { value: this.tables.requestLog.table.tableName });
    new CfnOutput(this, 'UpstreamSecretName', {
      description: 'Put the upstream API key here: aws secretsmanager put-secret-value --secret-id <name>',
      value: this.api.upstreamKeySecret.secretName,
    });
  }
}
