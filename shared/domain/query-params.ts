import { invalidRequest } from './errors.js';

/**
 * A query parameter that takes one value. A Lambda Function URL passes a repeated parameter as
 * its values joined with commas (and the local runtime does the same), so a comma in a value that
 * cannot hold one is a repeat: a 400 that says so, rather than a value that fails to parse or one
 * of the values kept in silence.
 */
export function oneQueryValue(query: Record<string, string | undefined>, name: string): string | undefined {
  const value = query[name];
  if (value?.includes(',')) {
    throw invalidRequest(
      `'${name}' is given more than once or holds a comma; give it once, with one value.`,
      name,
    );
  }
  return value;
}

/**
 * A count from the query string (`limit`): decimal digits only, from 1 to `max`, or `fallback` when
 * absent or empty. `Number()` alone would take `0x10`, `1e2` and ` 5` as numbers.
 */
export function queryCount(
  query: Record<string, string | undefined>,
  name: string,
  fallback: number,
  max: number,
): number {
  const value = oneQueryValue(query, name);
  if (value === undefined || value === '') return fallback;
  const count = /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!(count >= 1 && count <= max))
    throw invalidRequest(`'${name}' must be an integer from 1 to ${max}.`, name);
  return count;
}
