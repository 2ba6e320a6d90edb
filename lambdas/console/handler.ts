import { readFileSync } from 'node:fs';
import { CONSOLE_PAGE_FILE, type ConsolePage } from '../../console/page.js';
import { readConsoleConfig } from '../../shared/config.js';
import { CONSOLE_PATHS, createConsoleHandler } from '../../shared/runtime/console-handler.js';
import { functionUrlOf } from '../../shared/runtime/function-url-lookup.js';

// Read once at cold start: the page built beside this bundle (infra/bundling.ts), and the configuration.
const config = readConsoleConfig();
const page = JSON.parse(
  readFileSync(new URL(`./${CONSOLE_PAGE_FILE}`, import.meta.url), 'utf8'),
) as ConsolePage;

// The console's own URL serves it at its root too, which is where the stack output points.
export const handler = createConsoleHandler(page, functionUrlOf(config.publicFunctionName, config.region), [
  '/',
  ...CONSOLE_PATHS,
]);
