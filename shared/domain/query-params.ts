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
