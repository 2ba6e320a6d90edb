import OpenAI from 'openai';
import { afterAll, beforeAll } from 'vitest';
import type { LocalRuntime, LocalRuntimeOptions } from '../../local/runtime.js';
import { startTestRuntime } from './runtime.js';

/**
 * The runtime of the calling test file and an OpenAI client on its demo key, set by `useOpenAiRuntime`'s
 * beforeAll: read them inside tests and hooks only. Each test file has its own copy of this module.
 */
export let runtime: LocalRuntime;
export let client: OpenAI;

/** Starts one runtime for the calling file (beforeAll), with `client` on its demo key, and closes it afterwards. */
export function useOpenAiRuntime(options: LocalRuntimeOptions): void {
  beforeAll(async () => {
    runtime = await startTestRuntime(options);
    client = new OpenAI({ baseURL: `${runtime.url}/v1`, apiKey: runtime.apiKey, maxRetries: 0 });
  });
  afterAll(async () => {
    await runtime?.close();
  });
}
