import { createHash } from 'node:crypto';
import { isObject, parseJsonObject } from './json-body.js';

/**
 * One text per JSON value: object keys sorted, no whitespace, numbers and strings as
 * JSON.stringify writes them. Two bodies that parse to equal JSON give the same text, whatever
 * their key order, spacing or escapes.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const members = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * SHA-256 (hex) of a request body's canonical JSON under a scope (the route), or undefined when
 * the body is not a JSON object the routes would accept (the route itself then refuses it).
 * Parsing bounds the nesting depth, so the recursion above is bounded too.
 */
export function canonicalBodyHash(scope: string, body: string): string | undefined {
  let value: unknown;
  try {
    value = parseJsonObject(body);
  } catch {
    return undefined;
  }
  return createHash('sha256').update(scope).update('\n').update(canonicalJson(value)).digest('hex');
}
