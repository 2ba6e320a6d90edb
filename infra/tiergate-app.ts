import type { App } from 'aws-cdk-lib';
import { readConfig } from './config.js';
import { addNagChecks } from './nag.js';
import { TiergateStack } from './tiergate-stack.js';

export const STACK_NAME = 'Tiergate';

/** Everything app.ts does except synthesizing, so tests build exactly the app that deploys. */
export function defineTiergateApp(app: App): TiergateStack {
  const stack = new TiergateStack(app, STACK_NAME, {
    config: readConfig(app),
    description:
      'Tiergate: self-hosted OpenAI-compatible LLM gateway with performance tiers and prepaid wallets',
  });
  addNagChecks(app);
  return stack;
}
