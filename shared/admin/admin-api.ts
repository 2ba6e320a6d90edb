import * as z from 'zod/v4';
import type { DynamoAccountStore } from '../adapters/dynamodb/account-store.js';
import { catalogMargins, catalogWarnings, sameCatalog } from '../domain/catalog-review.js';
import { parseCatalogDocument } from '../domain/catalog-schema.js';
import { hasControlCharacters, NO_CONTROL_CHARACTERS } from '../domain/control-characters.js';
import {
  asGatewayError,
  GatewayError,
  invalidRequest,
  methodNotAllowed,
  notFound,
} from '../domain/errors.js';
import { type Json, parseJsonObject } from '../domain/json-body.js';
import { MAX_CREDIT_MICROS, MICROS_PER_USD, usdToMicros } from '../domain/money.js';
import { oneQueryValue, queryCount } from '../domain/query-params.js';
import type { ProbeResultRecorder } from '../gateway/health.js';
import { errorResponse, type HttpRequest, type HttpResponse, jsonResponse, type Log } from '../http.js';
import type { CatalogStore } from '../ports.js';
import { probeResultBody } from '../probe/result.js';
import { duplicateKeyPath } from './duplicate-keys.js';

/** Reports the admin API serves once the billing pipeline provides them. */
export interface AdminReports {
  usage(query: Record<string, string | undefined>): Promise<unknown>;
  requests(query: Record<string, string | undefined>): Promise<unknown>;
  guardrail(): Promise<unknown>;
}

export interface AdminApiDeps {
  accounts: DynamoAccountStore;
  catalog: CatalogStore;
  reports?: AdminReports;
  /** The last synthetic-probe result, which the probe's Record step writes. */
  probes?: ProbeResultRecorder;
  log: Log;
}

const usdAmount = z
  .number()
  .nonnegative()
  .refine((v) => usdToMicros(v) !== undefined, 'must be a USD amount with at most 6 decimal places');

/** A top-up or opening credit: at most MAX_CREDIT_MICROS (the balance cap is the store's). */
const creditAmount = usdAmount.refine(
  (v) => (usdToMicros(v) ?? 0) <= MAX_CREDIT_MICROS,
  `must be at most ${MAX_CREDIT_MICROS / MICROS_PER_USD} (USD)`,
);

/** A name the operator will see in logs and terminals: no control characters. */
const displayName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((v) => !hasControlCharacters(v), NO_CONTROL_CHARACTERS);

const createAccountBody = z.strictObject({
  name: displayName,
  creditUsd: creditAmount.optional(),
  dailyBudgetUsd: usdAmount.optional(),
});
const createKeyBody = z.strictObject({
  name: displayName.optional(),
  rpm: z.number().int().positive().max(1_000_000).optional(),
  tpm: z.number().int().positive().max(1_000_000_000).optional(),
  dailyBudgetUsd: usdAmount.optional(),
});
const creditBody = z.strictObject({
  amountUsd: creditAmount.refine((v) => v > 0, 'must be greater than 0'),
  // Echoed by the CLI and in reports, like a name: no control characters.
  reference: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .refine((v) => !hasControlCharacters(v), NO_CONTROL_CHARACTERS),
});
const rollbackBody = z.strictObject({ version: z.number().int().positive() });

/** An admin body as a JSON object; a key given twice is a 400 (JSON.parse would keep the last). */
function parseAdminJson(raw: string): Json {
  const body = parseJsonObject(raw);
  const duplicate = duplicateKeyPath(raw);
  if (duplicate) {
    const param = duplicate.join('.');
    throw invalidRequest(`Invalid request: the key "${param}" is given more than once.`, param);
  }
  return body;
}

export const MAX_ACCOUNTS_PAGE = 100;
const listQuery = z.strictObject({
  limit: z.number().optional(),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,400}$/)
    .optional(),
});

/** Opaque to clients: the last listed account's sort key, base64url. */
const encodeCursor = (sk: string): string => Buffer.from(sk, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string {
  const sk = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[0-9T:.Z-]{10,40}#[A-Za-z0-9_-]{1,128}$/.test(sk)) throw invalidRequest('Invalid cursor.', 'cursor');
  return sk;
}

function parseBody<T>(schema: z.ZodType<T>, req: HttpRequest): T {
  return parseInput(schema, parseAdminJson(req.body));
}

function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const keys = issue?.code === 'unrecognized_keys' ? issue.keys : [];
  const param = keys[0] ?? (issue?.path.map(String).join('.') || null);
  const what =
    keys.length > 0 ? `unknown field "${keys[0]}"` : `${param ?? 'body'}: ${issue?.message ?? 'invalid'}`;
  throw invalidRequest(`Invalid request: ${what}.`, param);
}

const micros = (usd: number | undefined): number | undefined =>
  usd === undefined ? undefined : usdToMicros(usd);

interface Route {
  method: string;
  pattern: RegExp;
  run: (req: HttpRequest, params: string[]) => Promise<HttpResponse>;
}

/** The operator's admin API. In AWS it sits behind an AWS_IAM Function URL; locally behind a token. */
export class AdminApi {
  private readonly routes: Route[];

  constructor(private readonly deps: AdminApiDeps) {
    const { accounts, catalog } = deps;
    const id = '([A-Za-z0-9_-]{1,128})';
    this.routes = [
      {
        method: 'POST',
        pattern: /^\/admin\/accounts$/,
        run: async (req) => {
          const body = parseBody(createAccountBody, req);
          const created = await accounts.createAccount(
            body.name,
            micros(body.creditUsd) ?? 0,
            micros(body.dailyBudgetUsd),
          );
          const { id: accountId, name, balanceMicros } = created.account;
          return jsonResponse(201, {
            account: { id: accountId, name, balanceMicros },
            apiKey: created.apiKey,
          });
        },
      },
      {
        method: 'GET',
        pattern: /^\/admin\/accounts$/,
        run: async (req) => {
          const query = parseInput(listQuery, {
            limit: queryCount(req.query, 'limit', 50, MAX_ACCOUNTS_PAGE),
            cursor: oneQueryValue(req.query, 'cursor'),
          });
          const page = await accounts.listAccounts(
            query.limit ?? 50,
            query.cursor === undefined ? undefined : decodeCursor(query.cursor),
          );
          return jsonResponse(200, {
            accounts: page.accounts,
            ...(page.nextCursor === undefined ? {} : { nextCursor: encodeCursor(page.nextCursor) }),
          });
        },
      },
      {
        method: 'GET',
        pattern: new RegExp(`^/admin/accounts/${id}$`),
        run: async (_req, [accountId]) => jsonResponse(200, await accounts.getAccount(accountId as string)),
      },
      {
        method: 'DELETE',
        pattern: new RegExp(`^/admin/accounts/${id}$`),
        run: async (_req, [accountId]) => {
          // The balance the deletion forfeits, as it stood just before (404 when there is no account).
          const { balanceMicros } = await accounts.getAccount(accountId as string);
          await accounts.deleteAccount(accountId as string);
          return jsonResponse(200, { id: accountId, deleted: true, forfeitedMicros: balanceMicros });
        },
      },
      {
        method: 'POST',
        pattern: new RegExp(`^/admin/accounts/${id}/keys$`),
        run: async (req, [accountId]) => {
          const body = parseBody(createKeyBody, req);
          const dailyBudgetMicros = micros(body.dailyBudgetUsd);
          const key = await accounts.createKey(accountId as string, {
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.rpm !== undefined ? { rpm: body.rpm } : {}),
            ...(body.tpm !== undefined ? { tpm: body.tpm } : {}),
            ...(dailyBudgetMicros !== undefined ? { dailyBudgetMicros } : {}),
          });
          return jsonResponse(201, key);
        },
      },
      {
        method: 'DELETE',
        pattern: new RegExp(`^/admin/keys/${id}$`),
        run: async (_req, [keyId]) => {
          await accounts.revokeKey(keyId as string);
          return jsonResponse(200, { id: keyId, status: 'revoked' });
        },
      },
      {
        method: 'POST',
        pattern: new RegExp(`^/admin/accounts/${id}/credit$`),
        run: async (req, [accountId]) => {
          const body = parseBody(creditBody, req);
          const amountMicros = micros(body.amountUsd) ?? 0;
          const out = await accounts.credit(accountId as string, amountMicros, body.reference);
          // A repeated reference adds nothing (`applied: false`); its amount is the one first applied,
          // as a different amount for the same reference is a 409.
          return jsonResponse(200, { ...out, amountMicros, reference: body.reference });
        },
      },
      {
        method: 'GET',
        pattern: /^\/admin\/tiers$/,
        run: async () => {
          const active = await catalog.getActive();
          return jsonResponse(200, {
            version: active.version,
            publishedAt: active.publishedAt,
            catalog: active.document,
          });
        },
      },
      {
        method: 'PUT',
        pattern: /^\/admin\/tiers$/,
        run: async (req) => {
          const document = parseCatalogDocument(parseAdminJson(req.body));
          const review = { warnings: catalogWarnings(document), margins: catalogMargins(document) };
          const active = await catalog.getActive();
          if (sameCatalog(document, active.document)) {
            return jsonResponse(200, {
              version: active.version,
              publishedAt: active.publishedAt,
              unchanged: true,
              ...review,
            });
          }
          return jsonResponse(201, { ...(await catalog.publish(document)), unchanged: false, ...review });
        },
      },
      {
        method: 'GET',
        pattern: /^\/admin\/tiers\/versions$/,
        run: async () => jsonResponse(200, await catalog.listVersions()),
      },
      {
        method: 'POST',
        pattern: /^\/admin\/tiers\/rollback$/,
        run: async (req) => {
          const { version } = parseBody(rollbackBody, req);
          const active = await catalog.rollback(version);
          return jsonResponse(200, { active: active.version, publishedAt: active.publishedAt });
        },
      },
      {
        method: 'GET',
        pattern: /^\/admin\/usage$/,
        run: async (req) => {
          await this.accountMustExist(oneQueryValue(req.query, 'accountId'));
          return jsonResponse(200, await this.reports().usage(req.query));
        },
      },
      {
        method: 'GET',
        pattern: /^\/admin\/requests$/,
        run: async (req) => {
          await this.accountMustExist(oneQueryValue(req.query, 'accountId'));
          return jsonResponse(200, await this.reports().requests(req.query));
        },
      },
      {
        method: 'GET',
        pattern: /^\/admin\/guardrail$/,
        run: async () => jsonResponse(200, await this.reports().guardrail()),
      },
      {
        method: 'PUT',
        pattern: /^\/admin\/probe$/,
        run: async (req) => {
          const result = parseBody(probeResultBody, req);
          const recorded = await this.probes().save(result);
          return jsonResponse(200, {
            recorded,
            ...(recorded ? {} : { reason: 'a newer result is recorded' }),
          });
        },
      },
      {
        method: 'GET',
        pattern: /^\/admin\/probe$/,
        run: async () => {
          const last = await this.probes().last();
          if (!last) throw notFoundError('No probe result is recorded yet.');
          return jsonResponse(200, last);
        },
      },
    ];
  }

  async handle(req: HttpRequest, requestId: string): Promise<HttpResponse> {
    const path = req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path;
    const matching = this.routes.filter((r) => r.pattern.test(path));
    if (matching.length === 0) return errorResponse(notFound(path), requestId);
    const route = matching.find((r) => r.method === req.method);
    if (!route) {
      return errorResponse(
        methodNotAllowed(
          req.method,
          matching.map((r) => r.method),
        ),
        requestId,
      );
    }
    try {
      const params = (route.pattern.exec(path) ?? []).slice(1);
      const response = await route.run(req, params);
      return { ...response, headers: { ...response.headers, 'x-request-id': requestId } };
    } catch (err) {
      const gatewayError = asGatewayError(err);
      if (gatewayError.status >= 500) {
        this.deps.log.error('admin request failed', {
          requestId,
          path,
          err: err instanceof Error ? err.message : String(err),
        });
      }
      return errorResponse(gatewayError, requestId);
    }
  }

  /** A report for an account that does not exist is a 404, not an empty report. */
  private async accountMustExist(accountId: string | undefined): Promise<void> {
    if (accountId === undefined || accountId === '') return;
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(accountId)) throw invalidRequest('Invalid accountId.', 'accountId');
    await this.deps.accounts.getAccount(accountId);
  }

  private probes(): ProbeResultRecorder {
    if (!this.deps.probes) throw notConfigured('Probe results are not configured.');
    return this.deps.probes;
  }

  private reports(): AdminReports {
    if (!this.deps.reports) throw notConfigured('Reports are not configured.');
    return this.deps.reports;
  }
}

const notConfigured = (message: string): GatewayError =>
  new GatewayError({ status: 501, type: 'server_error', code: 'not_implemented', message });

const notFoundError = (message: string): GatewayError =>
  new GatewayError({ status: 404, type: 'invalid_request_error', code: 'not_found', message });
