import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Powertools Tracer for the functions off the request path (admin, billing, guardrail,
 * reconciler): a segment per invocation and a subsegment per AWS SDK call. The completions
 * function relies on Lambda's active tracing alone: the X-Ray SDK's async-context tracking
 * (async_hooks) would tax every await of a streaming response.
 */
export const tracer = new Tracer({ serviceName: 'tiergate' });

export const traceClient = (client: DynamoDBClient): DynamoDBClient => tracer.captureAWSv3Client(client);

export const tracingMiddleware = () => captureLambdaHandler(tracer);
