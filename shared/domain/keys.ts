import { createHash, randomBytes } from 'node:crypto';

/** Recognisable prefix, so leaked keys are easy to find by secret scanners. */
export const API_KEY_PREFIX = 'tg-';

/** A new random API key: the prefix plus 256 bits of base64url. Shown once, never stored. */
export const generateApiKey = (): string => `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;

/** SHA-256 hex of a plaintext key: the only form in which keys are stored. */
export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/** Cheap shape check before any lookup; anything else is rejected without a storage call. */
export const looksLikeApiKey = (key: string): boolean => /^tg-[A-Za-z0-9_-]{43}$/.test(key);

export const newId = (prefix: string): string => `${prefix}_${randomBytes(10).toString('hex')}`;

/** Extracts the bearer token from an Authorization header value. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  // HTTP whitespace is space and tab only (RFC 9110); \s would also accept e.g. a non-breaking space.
  const match = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/**
 * The key a request presents as either surface's clients send it: `x-api-key` (Anthropic's SDKs)
 * or `Authorization: Bearer` (OpenAI's SDKs, and Claude Code's auth token).
 */
export function presentedKey(headers: Record<string, string | undefined>): string | undefined {
  return headers['x-api-key'] || bearerToken(headers.authorization);
}
