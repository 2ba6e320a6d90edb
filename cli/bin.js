#!/usr/bin/env node
// Registers tsx so the TypeScript CLI runs straight from the repo, with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
await main();
