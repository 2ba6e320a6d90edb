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
 */

/** A compiled pattern: takes the whole event. */
export type EventMatcher = (event: unknown) => boolean;

type JsonObject = Record<string, unknown>;
type NodeTest = (node: unknown) => boolean;
type FieldsTest = (object: JsonObject) => boolean;
/** Tests the leaf values found at one path (empty when there are none). */
type LeafTest = (values: readonly unknown[]) => boolean;

const NUMERIC_OPERATORS = ['=', '<', '<=', '>', '>='] as const;
type NumericOperator = (typeof NUMERIC_OPERATORS)[number];

/** Real EventBridge operators the local matcher does not implement: refused loudly rather than never matching. */
const UNSUPPORTED_OPERATORS = new Set(['cidr']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function fail(path: string, reason: string): never {
  throw new Error(`Invalid event pattern at ${path || '<root>'}: ${reason}`);
}

function child(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function own(object: JsonObject, key: string): unknown {
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

function compileNode(pattern: JsonObject, path: string): NodeTest {
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

function compileFields(pattern: JsonObject, path: string): FieldsTest {
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

function singleEntry(expression: JsonObject, path: string, what: string): [string, unknown] {
  const entries = Object.entries(expression);
  const [first] = entries;
  if (entries.length !== 1 || first === undefined) {
    fail(
      path,
      `${what} must have exactly one key, got ${entries.length} (${Object.keys(expression).join(', ')})`,
    );
  }
  return first;
}

type StringTest = (value: string) => boolean;

function compileOperator(expression: JsonObject, path: string): LeafTest {
  const [operator, argument] = singleEntry(expression, path, 'a match expression');
  const at = `${path}.${operator}`;
  const anyString =
    (test: StringTest): LeafTest =>
    (values) =>
      values.some((value) => typeof value === 'string' && test(value));
  switch (operator) {
    case 'exists': {
      if (typeof argument !== 'boolean') fail(at, `"exists" takes true or false, got ${describe(argument)}`);
      return argument ? (values) => values.length > 0 : (values) => values.length === 0;
    }
    case 'prefix':
      return anyString(compileAffix(argument, at, 'prefix'));
    case 'suffix':
      return anyString(compileAffix(argument, at, 'suffix'));
    case 'equals-ignore-case':
      return anyString(compileIgnoreCase(requireString(argument, at, operator)));
    case 'wildcard':
      return anyString(compileWildcard(requireString(argument, at, operator), at));
    case 'numeric': {
      const inRange = compileNumeric(argument, at);
      return (values) => values.some((value) => typeof value === 'number' && inRange(value));
    }
    case 'anything-but': {
      const excluded = compileAnythingBut(argument, at);
      // Needs at least one value that is not excluded: a missing field never matches anything-but.
      return (values) => values.some((value) => !excluded(value));
    }
    default:
      if (UNSUPPORTED_OPERATORS.has(operator)) {
        return fail(
          path,
          `operator "${operator}" is valid in EventBridge but not supported by the local matcher`,
        );
      }
      return fail(path, `unknown operator "${operator}"`);
  }
}

function requireString(argument: unknown, path: string, operator: string): string {
  if (typeof argument !== 'string') fail(path, `"${operator}" takes a string, got ${describe(argument)}`);
  return argument;
}

function requireNonEmpty(argument: unknown, path: string, operator: string): string {
  const value = requireString(argument, path, operator);
  if (value.length === 0) fail(path, `"${operator}" must not be empty here`);
  return value;
}

function requireStrings(argument: unknown, path: string, operator: string): string[] {
  if (typeof argument === 'string') return [argument];
  if (Array.isArray(argument) && argument.length > 0 && argument.every((v) => typeof v === 'string')) {
    return argument as string[];
  }
  return fail(
    path,
    `"${operator}" takes a string or a non-empty array of strings, got ${describe(argument)}`,
  );
}

function fold(value: string): string {
  return value.toLowerCase();
}

function compileIgnoreCase(expected: string): StringTest {
  const folded = fold(expected);
  return (value) => fold(value) === folded;
}

/** `prefix`/`suffix` take a string, or `{"equals-ignore-case": string}` for a case-insensitive affix. */
function compileAffix(argument: unknown, path: string, kind: 'prefix' | 'suffix'): StringTest {
  if (typeof argument === 'string') {
    return kind === 'prefix' ? (value) => value.startsWith(argument) : (value) => value.endsWith(argument);
  }
  if (isObject(argument)) {
    const [modifier, affix] = singleEntry(argument, path, `a "${kind}" object`);
    if (modifier !== 'equals-ignore-case') fail(path, `"${kind}" does not support "${modifier}"`);
    const folded = fold(requireString(affix, `${path}.${modifier}`, modifier));
    return kind === 'prefix'
      ? (value) => fold(value).startsWith(folded)
      : (value) => fold(value).endsWith(folded);
  }
  return fail(path, `"${kind}" takes a string or {"equals-ignore-case": string}, got ${describe(argument)}`);
}

/**
 * `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash. Matched by scanning
 * for the literal segments in order, which is linear per segment, unlike a backtracking regular expression.
 */
function compileWildcard(pattern: string, path: string): StringTest {
  const segments: string[] = [];
  let current = '';
  let lastWasStar = false;
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '\\') {
      const next = pattern[i + 1];
      if (next !== '*' && next !== '\\') fail(path, 'a backslash may only escape "*" or "\\"');
      current += next;
      i++;
      lastWasStar = false;
    } else if (char === '*') {
      if (lastWasStar) fail(path, 'consecutive wildcard characters are not allowed');
      segments.push(current);
      current = '';
      lastWasStar = true;
    } else {
      current += char;
      lastWasStar = false;
    }
  }
  segments.push(current);
  const [head = '', ...rest] = segments;
  if (rest.length === 0) return (value) => value === head;
  const tail = rest.pop() ?? '';
  const middle = rest;
  return (value) => {
    if (value.length < head.length + tail.length) return false;
    if (!value.startsWith(head) || !value.endsWith(tail)) return false;
    const end = value.length - tail.length;
    let position = head.length;
    for (const segment of middle) {
      // Leftmost match is always safe for `*`-only globs: it leaves the most room for what follows.
      const found = value.indexOf(segment, position);
      if (found === -1 || found + segment.length > end) return false;
      position = found + segment.length;
    }
    return true;
  };
}

function isNumericOperator(value: unknown): value is NumericOperator {
  return (NUMERIC_OPERATORS as readonly unknown[]).includes(value);
}

function comparison(operator: NumericOperator, bound: number): (value: number) => boolean {
  switch (operator) {
    case '=':
      return (value) => value === bound;
    case '<':
      return (value) => value < bound;
    case '<=':
      return (value) => value <= bound;
    case '>':
      return (value) => value > bound;
    case '>=':
      return (value) => value >= bound;
  }
}

/** `[op, n]`, or a range `[lower-op, n, upper-op, m]` with n < m. */
function compileNumeric(argument: unknown, path: string): (value: number) => boolean {
  if (!Array.isArray(argument) || (argument.length !== 2 && argument.length !== 4)) {
    fail(path, '"numeric" takes [operator, number] or [operator, number, operator, number]');
  }
  const conditions: Array<{ operator: NumericOperator; bound: number }> = [];
  for (let i = 0; i < argument.length; i += 2) {
    const operator: unknown = argument[i];
    const bound: unknown = argument[i + 1];
    if (!isNumericOperator(operator)) {
      fail(path, `unknown numeric operator ${JSON.stringify(operator)} (use ${NUMERIC_OPERATORS.join(' ')})`);
    }
    if (typeof bound !== 'number' || !Number.isFinite(bound)) {
      fail(path, `numeric operator "${operator}" needs a finite number, got ${describe(bound)}`);
    }
    conditions.push({ operator, bound });
  }
  const [first, second] = conditions;
  if (second !== undefined) {
    // EventBridge only accepts a range written lower bound first.
    const lowerFirst = first?.operator === '>' || first?.operator === '>=';
    const upperSecond = second.operator === '<' || second.operator === '<=';
    if (first === undefined || !lowerFirst || !upperSecond) {
      fail(path, 'a numeric range must be a lower bound (> or >=) followed by an upper bound (< or <=)');
    }
    if (first.bound >= second.bound) {
      fail(path, 'the lower bound of a numeric range must be below the upper bound');
    }
  }
  const tests = conditions.map((c) => comparison(c.operator, c.bound));
  return (value) => tests.every((test) => test(value));
}

/** Returns the "excluded" test: anything-but matches any present value that is not excluded. */
function compileAnythingBut(argument: unknown, path: string): (value: unknown) => boolean {
  if (typeof argument === 'string') return (value) => value === argument;
  if (typeof argument === 'number') {
    if (!Number.isFinite(argument)) fail(path, 'numbers must be finite');
    return (value) => value === argument;
  }
  if (Array.isArray(argument)) {
    const allStrings = argument.every((v) => typeof v === 'string');
    const allNumbers = argument.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (argument.length === 0 || !(allStrings || allNumbers)) {
      fail(path, '"anything-but" takes a non-empty array of only strings or only numbers');
    }
    const excluded = new Set<unknown>(argument);
    return (value) => excluded.has(value);
  }
  if (isObject(argument)) {
    const [modifier, operand] = singleEntry(argument, path, 'an "anything-but" object');
    const at = `${path}.${modifier}`;
    let test: StringTest;
    switch (modifier) {
      case 'prefix': {
        const prefix = requireNonEmpty(operand, at, modifier);
        test = (value) => value.startsWith(prefix);
        break;
      }
      case 'suffix': {
        const suffix = requireNonEmpty(operand, at, modifier);
        test = (value) => value.endsWith(suffix);
        break;
      }
      case 'equals-ignore-case': {
        const tests = requireStrings(operand, at, modifier).map(compileIgnoreCase);
        test = (value) => tests.some((t) => t(value));
        break;
      }
      case 'wildcard': {
        const tests = requireStrings(operand, at, modifier).map((w) => compileWildcard(w, at));
        test = (value) => tests.some((t) => t(value));
        break;
      }
      default:
        return fail(path, `"anything-but" does not support "${modifier}"`);
    }
    // String-only modifiers exclude only strings; a number or boolean is "anything but" a string prefix.
    return (value) => typeof value === 'string' && test(value);
  }
  return fail(
    path,
    `"anything-but" takes a string, a number, an array of them, or a prefix/suffix/equals-ignore-case/wildcard object, got ${describe(argument)}`,
  );
}
