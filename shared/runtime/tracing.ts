import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { MiddlewareObj } from '@middy/core';

/**
 * Powertools Tracer for the functions off the request path (admin, billing, guardrail,
 * reconciler): a segment per invocation and a subsegment per AWS SDK call. The completions
 * function relies on Lambda's active tracing alone: the X-Ray SDK's async-context tracking
 * (async_hooks) would tax every await of a streaming response. When tracing is off (the local
 * runtime, tests) the X-Ray SDK is not even loaded, for the same reason.
 */
const enabled = process.env.POWERTOOLS_TRACE_ENABLED !== 'false';

const powertools = enabled
  ? await Promise.all([
      import('@aws-lambda-powertools/tracer'),
      import('@aws-lambda-powertools/tracer/middleware'),
    ])
  : undefined;

const tracer = powertools ? new powertools[0].Tracer({ serviceName: 'tiergate' }) : undefined;

export const traceClient = (client: DynamoDBClient): DynamoDBClient =>
  tracer ? tracer.captureAWSv3Client(client) : client;

export const tracingMiddleware = (): MiddlewareObj =>
  tracer && powertools
    ? (powertools[1].captureLambdaHandler(tracer, { captureResponse: false }) as MiddlewareObj)
    : { before: () => undefined };
