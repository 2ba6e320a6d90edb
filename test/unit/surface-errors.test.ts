import { describe, expect, it } from 'vitest';
import { requestTooLarge } from '../../shared/domain/errors.js';
import { API_SURFACES } from '../../shared/domain/usage.js';
import { errorSurfaceOf } from '../../shared/gateway/public-api.js';
import { pathErrorResponse, SURFACE_ERROR_RESPONSES } from '../../shared/runtime/surface-errors.js';

describe('errorSurfaceOf', () => {
  it('gives every path under /v1/messages the Messages shape, trailing slashes or not', () => {
    for (const path of ['/v1/messages', '/v1/messages/', '/v1/messages/count_tokens', '/v1/messages/x//']) {
      expect(errorSurfaceOf(path), path).toBe('messages');
    }
  });

  it("gives every other path chat's shape", () => {
    for (const path of [
      '/',
      '/v1/chat/completions',
      '/v1/models/tier-1',
      '/health',
      '/admin/keys',
      '/nope',
    ]) {
      expect(errorSurfaceOf(path), path).toBe('chat');
    }
  });
});

describe('pathErrorResponse', () => {
  it('answers a path under /v1/messages in Anthropic shape', () => {
    const res = pathErrorResponse('/v1/messages', requestTooLarge(1024), 'req1');
    expect(res.status).toBe(413);
    expect(res.headers['x-request-id']).toBe('req1');
    expect(JSON.parse(res.body as string)).toEqual({
      type: 'error',
      error: { type: 'request_too_large', message: expect.stringContaining('1024 bytes') },
      request_id: 'req1',
    });
  });

  it('answers any other path in OpenAI shape', () => {
    const res = pathErrorResponse('/v1/chat/completions', requestTooLarge(1024), 'req2');
    expect(res.status).toBe(413);
    expect(res.headers).toMatchObject({ 'content-type': 'application/json', 'x-request-id': 'req2' });
    expect(JSON.parse(res.body as string)).toEqual({
      error: {
        message: 'The request body exceeds the limit of 1024 bytes.',
        type: 'invalid_request_error',
        param: null,
        code: 'request_too_large',
      },
    });
  });

  it('has an error shape for every API surface', () => {
    expect(Object.keys(SURFACE_ERROR_RESPONSES).sort()).toEqual([...API_SURFACES].sort());
  });
});
