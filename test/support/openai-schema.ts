import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { openApiToJsonSchema } from '../../scripts/openapi-json-schema.js';

/**
 * Validators for the official OpenAI OpenAPI schemas (chat completion, chunk, error, model list),
 * from a copy of openai-chat-subset.json. OpenAPI 3.0's `nullable` becomes JSON Schema's null
 * type so ajv can read it.
 */
type Schema = Record<string, unknown>;

const raw = JSON.parse(
  readFileSync(new URL('../fixtures/openai-chat-subset.json', import.meta.url), 'utf8'),
) as {
  components: { schemas: Schema };
};
const defs = openApiToJsonSchema(raw.components.schemas) as Schema;
const ajv = new Ajv({ strict: false, allErrors: true });
// The formats the schema uses: `uri` and `date` from ajv-formats, and OpenAI's own `unixtime`
// (whole seconds since the epoch). Each is checked, not just named.
// ajv-formats is CommonJS: its function is the default export's `default`.
formats.default(ajv, ['uri', 'date']);
ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) && n >= 0 });
ajv.addSchema({ $id: 'openai', $defs: defs });

const validator = (name: string): ValidateFunction => {
  const v = ajv.getSchema(`openai#/$defs/${name}`);
  if (!v) throw new Error(`schema ${name} not found`);
  return v;
};

export const validateCompletion = validator('CreateChatCompletionResponse');
export const validateChunk = validator('CreateChatCompletionStreamResponse');
export const validateError = validator('ErrorResponse');
export const validateModelList = validator('ListModelsResponse');
export const validateModel = validator('Model');

/** Throws with ajv's messages when `value` does not match; returns the value otherwise. */
export function assertValid<T>(validate: ValidateFunction, value: T): T {
  if (!validate(value)) {
    throw new Error(
      `schema violation: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 2000)}`,
    );
  }
  return value;
}
