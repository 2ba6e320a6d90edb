import { invalidRequest } from './errors.js';

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const MAX_DEPTH = 64;

/** Parses a raw body into a JSON object or throws a 400 naming the problem. */
export function parseJsonObject(raw: string): Json {
  if (raw.trim() === '') throw invalidRequest('The request body is empty; send a JSON object.');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalidRequest('The request body is not valid JSON.');
  }
  if (!isObject(value)) throw invalidRequest('The request body must be a JSON object.');
  if (depthExceeds(value, MAX_DEPTH))
    throw invalidRequest(`The request body is nested deeper than ${MAX_DEPTH} levels.`);
  return value;
}

function depthExceeds(root: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}
