import { randomBytes } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { DynamoAccountStore } from '../adapters/dynamodb/account-store.js';
import { DynamoCatalogStore } from '../adapters/dynamodb/catalog-store.js';
import { createDocumentClient } from '../adapters/dynamodb/client.js';
import { fromFunctionUrlEvent } from '../adapters/function-url.js';
import { AdminApi } from '../admin/admin-api.js';
import { DynamoAdminReports } from '../admin/reports.js';
import type { AdminConfig } from '../config.js';
import { asGatewayError } from '../domain/errors.js';
import { DynamoProbeResultStore } from '../gateway/health.js';
import { SpendGuardrail } from '../guardrail/spend-guardrail.js';
import { errorResponse, type Log } from '../http.js';
import { traceClient, tracingMiddleware } from './tracing.js';

/** Admin bodies are small JSON documents; the largest is a catalog. */
export const ADMIN_MAX_BODY_BYTES = 262_144;

export interface AdminHandlerDeps {
  log: Log;
}

/** The admin Function URL handler (AWS_IAM): buffered JSON in and out. */
export function createAdminHandler(config: AdminConfig, deps: AdminHandlerDeps) {
  const { ledgerTable } = config;
  const db = createDocumentClient(config.dynamodbEndpoint, traceClient);
  const api = new AdminApi({
    accounts: new DynamoAccountStore(db, ledgerTable),
    catalog: new DynamoCatalogStore(db, ledgerTable),
    reports: new DynamoAdminReports(
      db,
      config.requestLogTable,
      new SpendGuardrail(db, ledgerTable, config.dailySpendCapMicros),
      config.dailySpendCapMicros,
    ),
    probes: new DynamoProbeResultStore(db, ledgerTable),
    log: deps.log,
  });

  async function admin(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> {
    const requestId = randomBytes(12).toString('hex');
    let response: Awaited<ReturnType<AdminApi['handle']>>;
    try {
      response = await api.handle(fromFunctionUrlEvent(event, ADMIN_MAX_BODY_BYTES), requestId);
    } catch (err) {
      response = errorResponse(asGatewayError(err), requestId);
    }
    return { statusCode: response.status, headers: response.headers, body: response.body as string };
  }

  return middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>().use(tracingMiddleware()).handler(admin);
}
