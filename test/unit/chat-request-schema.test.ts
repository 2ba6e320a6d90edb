import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadOpenApiSchemas, ROOT } from '../../scripts/chat-request-schema.js';
import { VALIDATOR_FILE, validatorSource } from '../../scripts/gen-validators.js';
import { parseChatRequest } from '../../shared/dialects/openai-chat/request.js';
import {
  PASS_THROUGH_EXTENSIONS,
  REFUSED_PARAMETERS,
} from '../../shared/dialects/openai-chat/request-rules.js';
import { GatewayError } from '../../shared/domain/errors.js';
import { MEDIA_TOKEN_ALLOWANCE } from '../../shared/domain/media-allowance.js';

type Schema = Record<string, unknown>;
type Body = Record<string, unknown>;

const BASE: Body = { model: 'tier-2', messages: [{ role: 'user', content: 'hi' }] };

/**
 * A minimal body whose only message is a tool message, preceded by the assistant message whose
 * call it answers (a tool message must answer one, tool-turns.ts).
 */
function answeringACall(body: Body): Body {
  const [first] = body.messages as Body[];
  if (first?.role !== 'tool') return body;
  const call = { id: first.tool_call_id, type: 'function', function: { name: 'f', arguments: '{}' } };
  return { ...body, messages: [{ role: 'assistant', tool_calls: [call] }, first] };
}

function refusal(body: Body): GatewayError | undefined {
  try {
    parseChatRequest(body);
    return undefined;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

function expectRefused(body: Body, param: string): GatewayError {
  const err = refusal(body);
  expect(err, JSON.stringify(body)).toBeDefined();
  expect([err?.status, err?.code, err?.param], JSON.stringify(body)).toEqual([400, 'invalid_request', param]);
  return err as GatewayError;
}

describe('the generated request validator', () => {
  it('is what npm run gen:validators makes from the schema and the rules, so it cannot drift', () => {
    expect(readFileSync(VALIDATOR_FILE, 'utf8')).toBe(validatorSource());
  });

  it('needs nothing at run time: no import, no require', () => {
    const source = readFileSync(VALIDATOR_FILE, 'utf8');
    expect(source).not.toMatch(/\brequire\(|^import |\bfrom\s+["']/m);
  });
});

/**
 * Every enum reachable from CreateChatCompletionRequest in OpenAI's schema (plus the allowed
 * extensions), found by walking the OpenAPI document itself rather than the generated code.
 * Each is placed in an otherwise minimal valid body: a real value is accepted, a bogus one is a
 * 400 naming the field.
 */
interface EnumSite {
  param: string;
  values: unknown[];
  place: (value: unknown) => Body;
}

function enumSites(): EnumSite[] {
  const defs = structuredClone(loadOpenApiSchemas());
  for (const extension of PASS_THROUGH_EXTENSIONS) {
    for (const name of extension.definitions) {
      ((defs[name] as Schema).properties as Schema)[extension.field] = extension.schema;
    }
  }
  const resolve = (s: Schema): Schema =>
    typeof s.$ref === 'string' ? resolve(defs[s.$ref.split('/').pop() as string] as Schema) : s;
  const flatten = (s: Schema): Schema => {
    const r = resolve(s);
    if (!Array.isArray(r.allOf)) return r;
    const properties: Schema = {};
    const required: string[] = [];
    for (const part of [...(r.allOf as Schema[]), r].map((p) => (p === r ? p : flatten(p)))) {
      Object.assign(properties, part.properties ?? {});
      required.push(...((part.required as string[] | undefined) ?? []));
    }
    return { type: 'object', properties, required };
  };
  const isOpenEnum = (s: Schema) =>
    Array.isArray(s.anyOf) &&
    (s.anyOf as Schema[]).some((b) => b.type === 'string' && b.enum === undefined && b.format === undefined);

  const minimal = (schema: Schema): unknown => {
    const s = flatten(schema);
    if (Array.isArray(s.enum)) return s.enum[0];
    if (isOpenEnum(s)) return 'x';
    const union = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
    if (union) return minimal(union.find((b) => resolve(b).type !== 'null') as Schema);
    const type = Array.isArray(s.type) ? s.type[0] : (s.type ?? (s.properties ? 'object' : undefined));
    if (type === 'string') return s.format === 'uri' ? 'https://example.com/a.png' : 'x';
    if (type === 'integer' || type === 'number') {
      const min = (s.minimum as number | undefined) ?? 1;
      const max = (s.maximum as number | undefined) ?? 1;
      return min <= 1 && 1 <= max ? 1 : min;
    }
    if (type === 'boolean') return false;
    if (type === 'array') return (s.minItems as number | undefined) ? [minimal(s.items as Schema)] : [];
    const out: Body = {};
    for (const name of (s.required as string[] | undefined) ?? []) {
      out[name] = minimal((s.properties as Schema)[name] as Schema);
    }
    return out;
  };

  const sites: EnumSite[] = [];
  const walk = (schema: Schema, param: string, place: (v: unknown) => Body, depth: number): void => {
    if (depth > 12) return;
    const s = flatten(schema);
    if (isOpenEnum(s)) return;
    if (Array.isArray(s.enum)) sites.push({ param, values: s.enum.filter((v) => v !== null), place });
    for (const branch of ((s.oneOf ?? s.anyOf) as Schema[] | undefined) ?? [])
      walk(branch, param, place, depth + 1);
    if (s.properties) {
      for (const [name, child] of Object.entries(s.properties as Record<string, Schema>)) {
        const at = (v: unknown) => place({ ...(minimal(s) as Body), [name]: v });
        walk(child, param === '' ? name : `${param}.${name}`, at, depth + 1);
      }
    }
    if (s.items) walk(s.items as Schema, `${param}.[0]`, (v) => place([v]), depth + 1);
  };
  walk(defs[ROOT] as Schema, '', (v) => ({ ...(v as Body), model: BASE.model }), 0);
  return sites;
}

describe('every enum of the request schema is enforced', () => {
  const sites = enumSites();
  const refusedParams = new Set(REFUSED_PARAMETERS.map((r) => r.param));

  it('finds the enums all over the request', () => {
    const params = sites.map((s) => s.param);
    for (const expected of [
      'service_tier',
      'reasoning_effort',
      'response_format.type',
      'tool_choice',
      'tool_choice.type',
      'modalities.[0]',
      'messages.[0].role',
      'messages.[0].content.[0].type',
      'messages.[0].content.[0].image_url.detail',
      'messages.[0].tool_calls.[0].type',
      'tools.[0].type',
      'tools.[0].custom.format.grammar.syntax',
      'messages.[0].content.[0].cache_control.ttl',
    ]) {
      expect(params).toContain(expected);
    }
    expect(sites.length).toBeGreaterThan(40);
  });

  it('accepts a real value at every enum, in an otherwise minimal body', () => {
    for (const site of sites) {
      const err = refusal(answeringACall(site.place(site.values[0])));
      // A real value may still be one the gateway refuses for its price; then it says so.
      if (err) expect(refusedParams.has(err.param ?? ''), `${site.param}: ${err.message}`).toBe(true);
    }
  });

  it('refuses a bogus value at every enum with a 400 naming the field', () => {
    for (const site of sites) expectRefused(site.place('bogus-value'), site.param);
  });
});

describe('strict request validation', () => {
  it('refuses the bad values the outside trial found, naming each field', () => {
    const cases: Array<[Body, string]> = [
      [{ response_format: { type: 'bogus' } }, 'response_format.type'],
      [{ reasoning_effort: 'extreme' }, 'reasoning_effort'],
      [{ tool_choice: 'sometimes' }, 'tool_choice'],
      [{ modalities: ['smell'] }, 'modalities.[0]'],
      [{ service_tier: 'bogus' }, 'service_tier'],
      [{ tools: [{ type: 'function' }] }, 'tools.[0].function'],
      [
        { messages: [{ role: 'user', content: [{ type: 'video', url: 'x' }] }] },
        'messages.[0].content.[0].type',
      ],
      [{ messages: [{ role: 'user', content: 'x', provider: { order: ['a'] } }] }, 'messages.[0].provider'],
    ];
    for (const [patch, param] of cases) expectRefused({ ...BASE, ...patch }, param);
  });

  it('refuses unknown fields at any depth, and names them', () => {
    const cases: Array<[Body, string]> = [
      [
        { tools: [{ type: 'function', function: { name: 'f', provider: 1 } }] },
        'tools.[0].function.provider',
      ],
      [{ response_format: { type: 'json_object', models: [] } }, 'response_format.models'],
      [{ stream: true, stream_options: { include_usage: true, route: 'x' } }, 'stream_options.route'],
      [
        {
          messages: [
            { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/a.png', q: 1 } }] },
          ],
        },
        'messages.[0].content.[0].image_url.q',
      ],
      [
        {
          messages: [
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' }, x: 1 }],
            },
          ],
        },
        'messages.[0].tool_calls.[0].x',
      ],
      // An extension is allowed only where the allow-list puts it.
      [
        { messages: [{ role: 'user', content: 'x', cache_control: { type: 'ephemeral' } }] },
        'messages.[0].cache_control',
      ],
    ];
    for (const [patch, param] of cases) expectRefused({ ...BASE, ...patch }, param);
  });

  it('passes the allowed extensions through', () => {
    const messages = [
      {
        role: 'system',
        content: [{ type: 'text', text: 'rules', cache_control: { type: 'ephemeral', ttl: '1h' } }],
      },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello', refusal: null, annotations: [] },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'https://x/a.png' }, cache_control: { type: 'ephemeral' } },
        ],
      },
    ];
    expect(parseChatRequest({ ...BASE, messages }).passThrough.messages).toEqual(messages);
  });

  it('takes a response message and its tool calls back as conversation history', () => {
    const messages = [
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
    ];
    expect(() => parseChatRequest({ ...BASE, messages, tools: [toolOf('get_weather')] })).not.toThrow();
  });

  it('says which values a union takes', () => {
    expect(expectRefused({ ...BASE, stop: 5 }, 'stop').message).toBe("'stop' must be a string or an array.");
    expect(expectRefused({ ...BASE, tool_choice: 'sometimes' }, 'tool_choice').message).toBe(
      "'tool_choice' must be one of 'none', 'auto', 'required', or an object.",
    );
    // Not a string at all: the enum's own string type is not offered as "or a string".
    for (const value of [null, true, 3]) {
      expect(expectRefused({ ...BASE, tool_choice: value }, 'tool_choice').message).toBe(
        "'tool_choice' must be one of 'none', 'auto', 'required', or an object.",
      );
    }
    expect(expectRefused({ ...BASE, reasoning_effort: 3 }, 'reasoning_effort').message).not.toContain(
      'a string',
    );
  });
});

const toolOf = (name: string) => ({
  type: 'function',
  function: { name, description: 'd', parameters: { type: 'object', properties: {} }, strict: true },
});

describe('parameters the tier price cannot reflect', () => {
  it('are refused with a 400 that says why', () => {
    const cases: Array<[Body, string]> = [
      [{ service_tier: 'priority' }, 'service_tier'],
      [{ service_tier: 'flex' }, 'service_tier'],
      [{ service_tier: 'scale' }, 'service_tier'],
      [{ store: true }, 'store'],
      [{ web_search_options: {} }, 'web_search_options'],
      [{ prompt_cache_retention: '24h' }, 'prompt_cache_retention'],
      [{ modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' } }, 'modalities'],
      [{ modalities: ['audio'] }, 'modalities'],
      [{ audio: { voice: 'alloy', format: 'mp3' } }, 'audio'],
    ];
    for (const [patch, param] of cases) {
      expect(expectRefused({ ...BASE, ...patch }, param).message).toMatch(
        /not available through this gateway: .+\./,
      );
    }
  });

  it('pass when they change nothing', () => {
    for (const patch of [
      { service_tier: 'auto' },
      { service_tier: 'default' },
      { service_tier: null },
      { store: false },
      { prompt_cache_retention: 'in_memory' },
      { modalities: ['text'] },
      { modalities: null },
    ]) {
      expect(parseChatRequest({ ...BASE, ...patch }).passThrough).toMatchObject(patch);
    }
  });
});

describe('media in the request', () => {
  const image = (url: string, detail?: string) => ({
    type: 'image_url',
    image_url: { url, ...(detail ? { detail } : {}) },
  });
  const user = (...content: unknown[]) => ({ ...BASE, messages: [{ role: 'user', content }] });

  it('counts the bytes of inline payloads, which the body counts but which are not text', () => {
    const photo = `data:image/jpeg;base64,${'A'.repeat(40_000)}`;
    const audio = 'B'.repeat(6_400);
    const pdf = `data:application/pdf;base64,${'C'.repeat(1_000)}`;
    const req = parseChatRequest(
      user(
        { type: 'text', text: 'what is in these?' },
        image(photo),
        image('https://example.com/a.png', 'low'),
        { type: 'input_audio', input_audio: { data: audio, format: 'mp3' } },
        { type: 'file', file: { filename: 'a.pdf', file_data: pdf } },
        { type: 'file', file: { file_id: 'file-1' } },
      ),
    );
    expect(req.mediaParts).toBe(5);
    expect(req.inlineMediaBytes).toBe(photo.length + audio.length + pdf.length);
    expect(req.mediaTokenBound).toBe(
      MEDIA_TOKEN_ALLOWANCE.image +
        MEDIA_TOKEN_ALLOWANCE.imageLowDetail +
        MEDIA_TOKEN_ALLOWANCE.audioPart +
        6_400 / MEDIA_TOKEN_ALLOWANCE.audioBase64CharsPerToken +
        2 * MEDIA_TOKEN_ALLOWANCE.file,
    );
  });

  it('never counts more inline bytes than the body holds, even with escapes and non-ASCII', () => {
    const url = 'data:image/png;base64,Zm9v/YmFy\u00e9';
    const body = { ...BASE, messages: [{ role: 'user', content: [image(url)] }] };
    const raw = JSON.stringify(body).replace(/\//g, '\\/');
    const req = parseChatRequest(JSON.parse(raw) as Body);
    expect(req.inlineMediaBytes).toBe(Buffer.byteLength(url));
    expect(req.inlineMediaBytes).toBeLessThan(
      Buffer.byteLength(raw) - Buffer.byteLength('{"model":"tier-2"}'),
    );
  });

  it('has none in a text-only request', () => {
    expect(parseChatRequest(BASE)).toMatchObject({ mediaParts: 0, inlineMediaBytes: 0, mediaTokenBound: 0 });
  });
});
