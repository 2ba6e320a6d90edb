import { ECHO_CHARS, type GatewayError, invalidRequest } from '../../domain/errors.js';
import type { Json } from '../../domain/json-body.js';
import type { SchemaViolation } from './request-validator.generated.js';

/**
 * Turns the generated validator's violations into one 400 whose `param` names the field the
 * OpenAI way (`messages.[0].content.[1].type`). A union reports a violation per branch it tried;
 * the deepest one is what the client got wrong, and at equal depth a bound, a missing or an
 * unknown field says more than "wrong type" from a branch the client did not mean.
 */

/** Keywords that only summarise their branches' violations. */
const SUMMARIES = new Set(['oneOf', 'anyOf', 'allOf', 'not', 'if', 'discriminator']);

const A_TYPE: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
};

interface Located {
  violation: SchemaViolation;
  /** The offending field, the child named by `required` and `additionalProperties` included. */
  segments: string[];
}

export function schemaViolationError(violations: readonly SchemaViolation[], body: Json): GatewayError {
  const specific = violations.filter((v) => !SUMMARIES.has(v.keyword));
  const located = (specific.length > 0 ? specific : violations).map((v) => locate(v, body));
  const depth = Math.max(...located.map((l) => l.segments.length));
  const deepest = located.filter((l) => l.segments.length === depth);
  const own = deepest.find((l) => l.violation.keyword !== 'type' && l.violation.keyword !== 'enum');
  if (own) return describe(own);
  const first = deepest[0] as Located;
  return invalidRequest(
    `'${paramOf(first.segments)}' must be ${expected(deepest)}.`,
    paramOf(first.segments),
  );
}

function locate(violation: SchemaViolation, body: Json): Located {
  const segments: string[] = [];
  let value: unknown = body;
  const keys = violation.instancePath === '' ? [] : violation.instancePath.slice(1).split('/');
  for (const raw of keys) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    segments.push(Array.isArray(value) ? `[${key}]` : key.slice(0, ECHO_CHARS));
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  }
  const child = violation.params.missingProperty ?? violation.params.additionalProperty;
  if (typeof child === 'string') segments.push(child.slice(0, ECHO_CHARS));
  if (violation.keyword === 'discriminator' && typeof violation.params.tag === 'string')
    segments.push(violation.params.tag);
  return { violation, segments };
}

const paramOf = (segments: readonly string[]): string => segments.join('.');

/** "one of 'a', 'b', or an object", from the enum and type violations of a union's branches. */
function expected(violations: readonly Located[]): string {
  const values: string[] = [];
  const types: string[] = [];
  // A branch that is an enum of strings reports its `type: string` too: that type is the enum's,
  // not "any string", unless some other branch (a free string) reported it as well.
  let stringTypes = 0;
  let stringEnums = 0;
  for (const { violation } of violations) {
    if (violation.keyword === 'enum') {
      const allowed = violation.params.allowedValues as unknown[];
      if (allowed.every((v) => typeof v === 'string' || v === null)) stringEnums++;
      for (const v of allowed) if (v !== null) values.push(`'${String(v)}'`);
    } else {
      const type = violation.params.type;
      for (const t of Array.isArray(type) ? type : String(type).split(',')) {
        if (t === 'string') stringTypes++;
        if (t !== 'null' && !types.includes(A_TYPE[t] ?? t)) types.push(A_TYPE[t] ?? t);
      }
    }
  }
  const shown =
    stringEnums > 0 && stringTypes <= stringEnums ? types.filter((t) => t !== A_TYPE.string) : types;
  const oneOf = values.length > 0 ? [`one of ${values.join(', ')}`] : [];
  const all = [...oneOf, ...shown];
  if (all.length <= 1) return all[0] ?? 'valid';
  return `${all.slice(0, -1).join(', ')}${values.length > 0 ? ',' : ''} or ${all.at(-1)}`;
}

function describe({ violation, segments }: Located): GatewayError {
  const param = paramOf(segments);
  const limit = violation.params.limit;
  const plural = (n: unknown, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const message = ((): string => {
    switch (violation.keyword) {
      case 'additionalProperties':
        return `Unrecognized request argument supplied: ${param}`;
      case 'required':
        return `Missing required parameter: '${param}'.`;
      case 'minimum':
        return `'${param}' must be at least ${limit}.`;
      case 'maximum':
        return `'${param}' must be at most ${limit}.`;
      case 'exclusiveMinimum':
        return `'${param}' must be greater than ${limit}.`;
      case 'exclusiveMaximum':
        return `'${param}' must be less than ${limit}.`;
      case 'minItems':
        return `'${param}' must have at least ${plural(limit, 'item')}.`;
      case 'maxItems':
        return `'${param}' must have at most ${plural(limit, 'item')}.`;
      case 'minLength':
        return `'${param}' must be at least ${plural(limit, 'character')} long.`;
      case 'maxLength':
        return `'${param}' must be at most ${plural(limit, 'character')} long.`;
      // The schema's only pattern is the scheme check that stands for `format: uri`.
      case 'pattern':
        return `'${param}' must be a URL.`;
      case 'discriminator':
        return `'${param}' must be a string naming a known type.`;
      default:
        return `'${param}' is not valid.`;
    }
  })();
  return invalidRequest(message, param);
}
