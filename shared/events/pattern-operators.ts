import { isObject, type Json } from '../domain/json-body.js';
import { describe, fail } from './pattern-errors.js';

/**
 * The match expressions of an event pattern's leaf arrays (`exists`, `prefix`, `suffix`, `equals-ignore-case`,
 * `wildcard`, `numeric`, `anything-but`): each is validated and compiled into a test on the leaf values at its path.
 */

/** Tests the leaf values found at one path (empty when there are none). */
export type LeafTest = (values: readonly unknown[]) => boolean;

const NUMERIC_OPERATORS = ['=', '<', '<=', '>', '>='] as const;
type NumericOperator = (typeof NUMERIC_OPERATORS)[number];

/** Real EventBridge operators the local matcher does not implement: refused loudly rather than never matching. */
const UNSUPPORTED_OPERATORS = new Set(['cidr']);

function singleEntry(expression: Json, path: string, what: string): [string, unknown] {
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

/** Compiles one match expression, an object with exactly one operator key, such as `{"prefix": "a"}`. */
export function compileOperator(expression: Json, path: string): LeafTest {
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
