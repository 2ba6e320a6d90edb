/** How a malformed event pattern is reported: the error thrown and how an offending value is named in it. */

/** The JSON type of a value, as named in pattern errors. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Throws the error for a malformed pattern; `path` is the dotted path to the offending part ('' for the root). */
export function fail(path: string, reason: string): never {
  throw new Error(`Invalid event pattern at ${path || '<root>'}: ${reason}`);
}
