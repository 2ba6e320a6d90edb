import { echo, invalidRequest } from '../domain/errors.js';
import type { Json } from '../domain/json-body.js';

/**
 * A valid parameter of a surface that changes what the upstream charges, or how it keeps the data,
 * in ways a flat tier price cannot reflect.
 */
export interface RefusedParameter {
  param: string;
  /**
   * Values accepted besides null (absent); `[]` refuses the parameter itself. For a list-valued
   * parameter, every item must be one of them.
   */
  allowed: readonly (string | boolean)[];
  /** Why the gateway refuses the other values. */
  why: string;
}

/** Refuses, with a 400 that says why and what to send instead, the first refused value in `body`. */
export function refuseUnpricedParameters(body: Json, refused: readonly RefusedParameter[]): void {
  for (const { param, allowed, why } of refused) {
    const value = body[param];
    if (value === undefined || value === null) continue;
    const values = Array.isArray(value) && allowed.length > 0 ? value : [value];
    if (values.every((v) => allowed.includes(v as string | boolean))) continue;
    const what = allowed.length === 0 ? `'${param}'` : `'${param}: ${echo(JSON.stringify(value))}'`;
    const instead =
      allowed.length === 0
        ? 'Omit it.'
        : `Use ${allowed.map((v) => JSON.stringify(v)).join(' or ')}, or omit it.`;
    throw invalidRequest(`${what} is not available through this gateway: ${why}. ${instead}`, param);
  }
}
