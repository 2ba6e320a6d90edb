import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, buildSync, type Metafile } from 'esbuild';
import { buildConsolePage } from '../console/build.js';
import { CONSOLE_PAGE_FILE } from '../console/page.js';

/** Repository root: lambda entries and their imports are resolved from here, not from the cwd. */
export const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** The functions that deploy, one folder each under lambdas/. */
export const LAMBDA_ENTRIES = [
  'completions',
  'admin',
  'billing',
  'guardrail',
  'reconciler',
  'probe',
  'console',
] as const;
export type LambdaEntry = (typeof LAMBDA_ENTRIES)[number];

export function lambdaEntryPath(entry: LambdaEntry): string {
  return fileURLToPath(new URL(`../lambdas/${entry}/handler.ts`, import.meta.url));
}

/** The function's handler: `handler` exported by the entry's bundle, handler.mjs. */
export const LAMBDA_HANDLER = 'handler.handler';

/**
 * The one set of esbuild settings. GatewayFunction's asset, `npm run size` and the bundle test all build with
 * esbuildBuildOptions, so what the test proves is what deploys.
 */
export const ESBUILD_SETTINGS = {
  target: 'node22',
  format: 'esm',
  // A dynamic import() becomes a chunk file beside the entry, read on first use: the usage estimate's tokenizer
  // (1 MB) and the AWS SDK's unused credential providers cost no cold start. NodejsFunction cannot split (it
  // bundles to one --outfile), so GatewayFunction runs esbuild itself.
  splitting: true,
  minify: true,
  // Keep names: error classes and log lines stay readable after minification.
  keepNames: true,
  sourcemap: true,
  // Line numbers are enough to map a stack trace; leaving the sources out keeps the zip small.
  sourcesContent: false,
  mainFields: ['module', 'main'],
  // ESM output has no `require`; CJS dependencies bundled into it still call it.
  banner:
    'import { createRequire as __tgCreateRequire } from "node:module"; const require = __tgCreateRequire(import.meta.url);',
  // Nothing external, not even @aws-sdk/*: the pinned SDK versions from package-lock.json deploy, not whatever
  // the runtime happens to ship.
  external: [] as readonly string[],
} as const;

/** ESBUILD_SETTINGS as esbuild build options for one entry: handler.mjs and its chunks in `outdir`. */
export function esbuildBuildOptions(entry: LambdaEntry, outdir: string): BuildOptions {
  return {
    entryPoints: [lambdaEntryPath(entry)],
    outdir,
    bundle: true,
    platform: 'node',
    target: ESBUILD_SETTINGS.target,
    format: ESBUILD_SETTINGS.format,
    splitting: ESBUILD_SETTINGS.splitting,
    chunkNames: 'chunks/[name]-[hash]',
    minify: ESBUILD_SETTINGS.minify,
    keepNames: ESBUILD_SETTINGS.keepNames,
    sourcemap: ESBUILD_SETTINGS.sourcemap,
    sourcesContent: ESBUILD_SETTINGS.sourcesContent,
    mainFields: [...ESBUILD_SETTINGS.mainFields],
    banner: { js: ESBUILD_SETTINGS.banner },
    external: [...ESBUILD_SETTINGS.external],
    outExtension: { '.js': '.mjs' },
    absWorkingDir: PROJECT_ROOT,
  };
}

/** Builds one function's asset into `outdir`, as CDK's local bundling calls it: local esbuild, never Docker. */
export function bundleLambdaEntry(entry: LambdaEntry, outdir: string): void {
  buildSync({ ...esbuildBuildOptions(entry, outdir), logLevel: 'error' });
  writeEntryFiles(entry, outdir);
}

/** Files an entry reads beside its handler.mjs: the console function's built page. */
export function writeEntryFiles(entry: LambdaEntry, outdir: string): void {
  if (entry === 'console') writeFileSync(join(outdir, CONSOLE_PAGE_FILE), JSON.stringify(buildConsolePage()));
}

/** The entry's output and every chunk it imports statically: what a cold start reads and evaluates. */
export function outputsLoadedAtInit(metafile: Metafile, entryOutput: string): Set<string> {
  const loaded = new Set<string>();
  const visit = (path: string) => {
    if (loaded.has(path)) return;
    loaded.add(path);
    for (const imported of metafile.outputs[path]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    }
  };
  visit(entryOutput);
  return loaded;
}
