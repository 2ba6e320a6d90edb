import { dirname } from 'node:path';
import { AssetHashType, DockerImage, Duration, Validations } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  type CfnFunction,
  Code,
  type FunctionUrl,
  FunctionUrlAuthType,
  Function as LambdaFunction,
  LoggingFormat,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config.js';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../../shared/runtime/metric-names.js';
import { bundleLambdaEntry, LAMBDA_HANDLER, type LambdaEntry, lambdaEntryPath } from '../bundling.js';
import type { GatewayTable } from './ledger-tables.js';

/** DynamoDB item-level actions a function can be granted. Scan and table-level actions are deliberately absent. */
export type ItemAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'ConditionCheckItem'
  | 'BatchWriteItem';

/**
 * What a function may do with one table. Transactions need no action of their own: DynamoDB authorises each
 * item of a TransactWriteItems against its PutItem / UpdateItem / DeleteItem / ConditionCheckItem.
 */
export interface TableAccess {
  /** Granted on the table ARN only. */
  readonly items: readonly ItemAction[];
  /** Where Query is allowed: `'table'` for the base table, or index names from the table's definition. */
  readonly query?: readonly string[];
  /**
   * Query on the base table, but only of partitions whose key starts with one of these prefixes
   * (an IAM condition on `dynamodb:LeadingKeys`): reading one kind of item, not the whole table.
   */
  readonly queryPartitionsStartingWith?: readonly string[];
}

/** Explicit statements for `access`: named actions on this table's ARN and on named index ARNs, nothing wider. */
export function tableAccessStatements(binding: GatewayTable, access: TableAccess): PolicyStatement[] {
  const { table, definition } = binding;
  const statements: PolicyStatement[] = [];
  if (access.items.length > 0) {
    statements.push(
      new PolicyStatement({
        actions: [...new Set(access.items)].map((action) => `dynamodb:${action}`),
        resources: [table.tableArn],
      }),
    );
  }
  const queryResources = (access.query ?? []).map((target) => {
    if (target === 'table') return table.tableArn;
    if (!definition.globalSecondaryIndexes.some((index) => index.indexName === target)) {
      throw new Error(`Table ${definition.id} has no index "${target}" to grant Query on`);
    }
    return `${table.tableArn}/index/${target}`;
  });
  if (queryResources.length > 0) {
    statements.push(new PolicyStatement({ actions: ['dynamodb:Query'], resources: queryResources }));
  }
  const prefixes = access.queryPartitionsStartingWith ?? [];
  if (prefixes.length > 0) {
    statements.push(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes.map((prefix) => `${prefix}*`) },
        },
      }),
    );
  }
  return statements;
}

export interface GatewayFunctionProps {
  /** Folder under lambdas/ whose handler.ts exports `handler`. */
  readonly entry: LambdaEntry;
  readonly description: string;
  readonly logRetention: RetentionDays;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 512 MB */
  readonly memorySize?: number;
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * The function's asset: its entry bundled by the local esbuild into handler.mjs plus the chunks it imports on
 * demand, hashed by that output (as NodejsFunction does, which cannot split into chunks). The Docker image is a
 * placeholder CDK requires and never runs: local bundling either succeeds or throws.
 */
function bundledCode(entry: LambdaEntry): Code {
  // The source path is the function's folder: CDK caches bundles by source path and options, and a `local`
  // bundler's code is not part of them, so one shared path would give every function the first one's bundle.
  return Code.fromAsset(dirname(lambdaEntryPath(entry)), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('dummy'),
      local: {
        tryBundle(outputDir) {
          bundleLambdaEntry(entry, outputDir);
          return true;
        },
      },
    },
  });
}

/**
 * Every Lambda default lives here: Node.js 22 on arm64, bundled by the local esbuild (no Docker) into minified
 * ESM with source maps, its own log group with retention, X-Ray tracing, and a role that holds nothing but what
 * the bind methods grant. Each bind method sets the environment variable and grants least privilege in one call,
 * so a function can never know about a resource it may not touch, or be allowed one it does not know about.
 */
export class GatewayFunction extends Construct {
  readonly function: LambdaFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: GatewayFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    // Our own role instead of the default one: the AWSLambdaBasicExecutionRole managed policy would allow
    // writing to every log group in the account; this role may write to its own only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the Tiergate ${props.entry} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new LambdaFunction(this, 'Function', {
      code: bundledCode(props.entry),
      handler: LAMBDA_HANDLER,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      description: props.description,
      timeout: props.timeout ?? Duration.seconds(30),
      memorySize: props.memorySize ?? 512,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      tracing: Tracing.ACTIVE,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime DESIGN.md section 9 specifies and the bundles target (esbuild node22); moving ' +
        'to Node.js 24 is a deliberate upgrade made together with that target, not one a cdk-nag release forces.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) is granted on "*": these actions ' +
        'support no resource-level permissions. test/infra/stack.test.ts fails if any other action gets "*".',
    });
  }

  /** Plain configuration, never a secret: secrets go through `bindSecret`. */
  setEnvironment(name: string, value: string): this {
    // The plain-key variable exists for the local runtime only; in AWS the key stays in Secrets Manager.
    if (name === ENV.upstreamApiKey || name === ENV.toolCallIdSecret) {
      throw new Error(`${name} must not be deployed: use bindSecret`);
    }
    this.function.addEnvironment(name, value);
    return this;
  }

  /** Sets the table's environment variable and grants exactly `access` on it. */
  bindTable(binding: GatewayTable, access: TableAccess): this {
    this.setEnvironment(binding.envName, binding.table.tableName);
    for (const statement of tableAccessStatements(binding, access)) this.role.addToPrincipalPolicy(statement);
    return this;
  }

  /** Sets EVENT_BUS_NAME and allows events:PutEvents on this bus only. */
  bindBus(bus: IEventBus, envName: string = ENV.eventBus): this {
    this.setEnvironment(envName, bus.eventBusName);
    bus.grantPutEventsTo(this.role);
    return this;
  }

  /** Passes the secret's ARN (never its value) and allows reading this secret only (AWS-managed key). */
  bindSecret(secret: ISecret, envName: string = ENV.upstreamApiKeySecretArn): this {
    this.setEnvironment(envName, secret.secretArn);
    // GetSecretValue alone (grantRead would add DescribeSecret, which the function never calls).
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
    );
    return this;
  }

  /**
   * Sets the URL's environment variable. For an AWS_IAM URL it also allows this function to call it, and only
   * through the URL (lambda:InvokeFunctionUrl, plus lambda:InvokeFunction conditioned on InvokedViaFunctionUrl,
   * which IAM-authenticated URLs require): the caller signs with its execution role.
   */
  bindFunctionUrl(url: FunctionUrl, envName: string): this {
    this.setEnvironment(envName, url.url);
    if (url.authType === FunctionUrlAuthType.AWS_IAM) url.grantInvokeUrl(this.role);
    return this;
  }

  /**
   * Sets the variable to another function's name and allows reading that function's URL configuration
   * (lambda:GetFunctionUrlConfig on that function only), for a function that must learn another's URL at run
   * time because passing the URL itself would make a dependency cycle.
   */
  bindFunctionUrlOf(target: GatewayFunction, envName: string): this {
    this.setEnvironment(envName, target.function.functionName);
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['lambda:GetFunctionUrlConfig'],
        resources: [target.function.functionArn],
      }),
    );
    return this;
  }

  /**
   * Events of asynchronous invocations (EventBridge) that still fail after Lambda's two retries go to `queue`,
   * as the raw event, the same shape EventBridge puts in a rule's DLQ, so one redrive handles both.
   */
  sendFailedAsyncEventsTo(queue: IQueue): this {
    // The L2 only takes a DLQ at construction; the consumers' queues are built after their functions.
    (this.function.node.defaultChild as CfnFunction).deadLetterConfig = { targetArn: queue.queueArn };
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
    );
    this.function.configureAsyncInvoke({ retryAttempts: 2 });
    return this;
  }
}
