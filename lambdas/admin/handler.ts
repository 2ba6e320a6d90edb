import { randomBytes } from 'node:crypto';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { DynamoAccountStore } from '../../shared/adapters/dynamodb/account-store.js';
import { DynamoCatalogStore } from '../../shared/adapters/dynamodb/catalog-store.js';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.js';
import { fromFunctionUrlEvent } from '../../shared/adapters/function-url.js';
import { AdminApi } from '../../shared/admin/admin-api.js';
import { DynamoAdminReports } from '../../shared/admin/reports.js';
import { ENV, optionalEnv, requireEnv } from '../../shared/config.js';
import { asGatewayError } from '../../shared/domain/errors.js';
import { usdToMicros } from '../../shared/domain/money.js';
import { DynamoProbeResultStore } from '../../shared/gateway/health.js';
import { SpendGuardrail } from '../../shared/guardrail/spend-guardrail.js';
import { errorResponse } from '../../shared/http.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';
import { traceClient, tracingMiddleware } from '../../shared/runtime/tracing.js';

const ADMIN_MAX_BODY_BYTES = 262_144;
const ledgerTable = requireEnv(ENV.ledgerTable);
const db = createDocumentClient(optionalEnv(ENV.dynamodbEndpoint), traceClient);
const log = powertoolsLog(createLogger());
const capMicros = usdToMicros(requireEnv(ENV.dailySpendCapUsd)) ?? 0;

const api = new AdminApi({
  accounts: new DynamoAccountStore(db, ledgerTable),
  catalog: new DynamoCatalogStore(db, ledgerTable),
  reports: new DynamoAdminReports(
    db,
    requireEnv(ENV.requestLogTable),
    new SpendGuardrail(db, ledgerTable, capMicros),
    capMicros,
  ),
  probes: new DynamoProbeResultStore(db, ledgerTable),
  log,
});

/** Admin Function URL (AWS_IAM): buffered JSON in and out. */
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

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(tracingMiddleware())
  .handler(admin);
