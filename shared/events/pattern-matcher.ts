import { isObject, type Json } from '../domain/json-body.js';
import { describe, fail } from './pattern-errors.js';
import { compileOperator, type LeafTest } from './pattern-operators.js';
import type { EventPattern } from './rules.js';

/**
 * EventBridge content filtering, for the local bus and for checking rule patterns before deploy.
 *
 * Semantics follow aws/event-ruler, which EventBridge runs:
 * - fields in a pattern are ANDed, values in a leaf array are ORed; `$or` ORs whole sub-patterns;
 * - a leaf matches the event's value at exactly that path; an event array matches if any element does
 *   (nested arrays are flattened);
 * - objects are intermediate nodes, not values: a leaf never matches an object, and `{exists: false}`
 *   holds when the path has no leaf value (absent, an object, or an empty array);
 * - an array of objects under a nested pattern matches when one element satisfies the whole sub-pattern
 *   (event-ruler's "array consistency");
 * - every operator except `{exists: false}` needs a value, so a missing field never matches.
 *
 * This file holds the entry points and compiles a pattern's structure (fields, nesting, `$or`, leaf arrays);
 * the match expressions inside leaf arrays are compiled in pattern-operators.ts.
 */

/** A compiled pattern: takes the whole event. */
export type EventMatcher = (event: unknown) => boolean;

type NodeTest = (node: unknown) => boolean;
type FieldsTest = (object: Json) => boolean;

function child(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function own(object: Json, key: string): unknown {
  // Own properties only, so a field named "constructor" or "__proto__" never reads the prototype.
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function flatten(values: readonly unknown[]): unknown[] {
  return values.flat(Number.POSITIVE_INFINITY) as unknown[];
}

/** The leaf values at a path: primitives only, arrays flattened. */
function leafValues(value: unknown): unknown[] {
  if (value === undefined || isObject(value)) return [];
  if (Array.isArray(value)) return flatten(value).filter((v) => v !== undefined && !isObject(v));
  return [value];
}

/** Validates and compiles a pattern once; throws a descriptive Error when it is malformed. */
export function compilePattern(pattern: EventPattern): EventMatcher {
  if (!isObject(pattern)) fail('', `an event pattern must be a JSON object, got ${describe(pattern)}`);
  const test = compileNode(pattern, '');
  return (event) => test(event);
}

/** Throws a descriptive Error when the pattern is not a valid EventBridge pattern (as far as we support them). */
export function validatePattern(pattern: EventPattern): void {
  compilePattern(pattern);
}

/**
 * Whether the event matches the pattern. Throws on a malformed pattern, so a typo never turns into a rule that
 * silently matches nothing; callers matching many events should compile once with `compilePattern`.
 */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return compilePattern(pattern)(event);
}

function compileNode(pattern: Json, path: string): NodeTest {
  const fields = compileFields(pattern, path);
  return (node) => {
    if (Array.isArray(node)) {
      const elements = flatten(node).filter(isObject);
      // With no object to look into, every field below is absent; only `exists: false` can still hold.
      return elements.length === 0 ? fields({}) : elements.some(fields);
    }
    return fields(isObject(node) ? node : {});
  };
}

function compileFields(pattern: Json, path: string): FieldsTest {
  const keys = Object.keys(pattern);
  if (keys.length === 0) fail(path, 'empty objects are not allowed');
  const tests: FieldsTest[] = keys.map((key) => {
    const expected = pattern[key];
    const at = child(path, key);
    if (key === '$or') return compileOr(expected, at);
    if (Array.isArray(expected)) {
      const leaf = compileLeaf(expected, at);
      return (object) => leaf(leafValues(own(object, key)));
    }
    if (isObject(expected)) {
      const node = compileNode(expected, at);
      return (object) => node(own(object, key));
    }
    return fail(
      at,
      `a field must map to an array of match values or to a nested object, got ${describe(expected)}`,
    );
  });
  return (object) => tests.every((test) => test(object));
}

function compileOr(alternatives: unknown, path: string): FieldsTest {
  if (!Array.isArray(alternatives) || alternatives.length < 2) {
    fail(path, '"$or" must be an array of at least two sub-patterns');
  }
  const tests = alternatives.map((alternative, i) => {
    if (!isObject(alternative))
      fail(`${path}[${i}]`, `a "$or" element must be an object, got ${describe(alternative)}`);
    return compileFields(alternative, `${path}[${i}]`);
  });
  return (object) => tests.some((test) => test(object));
}

function compileLeaf(alternatives: readonly unknown[], path: string): LeafTest {
  if (alternatives.length === 0) fail(path, 'empty arrays are not allowed');
  const tests = alternatives.map((alternative, i): LeafTest => {
    const at = `${path}[${i}]`;
    if (isObject(alternative)) return compileOperator(alternative, at);
    if (alternative === null || typeof alternative === 'string' || typeof alternative === 'boolean') {
      return (values) => values.includes(alternative);
    }
    if (typeof alternative === 'number') {
      if (!Number.isFinite(alternative)) fail(at, 'numbers must be finite');
      return (values) => values.includes(alternative);
    }
    return fail(
      at,
      `a match value must be a string, number, boolean, null or an operator object, got ${describe(alternative)}`,
    );
  });
  return (values) => tests.some((test) => test(values));
}
