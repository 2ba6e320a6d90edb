import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

/** Repository root: lambda entries, the lock file and esbuild are resolved from here, not from the cwd. */
export const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** The functions that deploy, one folder each under lambdas/. */
export const LAMBDA_ENTRIES = [
  'completions',
  'admin',
  'billing',
  'guardrail',
  'reconciler',
  'probe',
] as const;
export type LambdaEntry = (typeof LAMBDA_ENTRIES)[number];

export function lambdaEntryPath(entry: LambdaEntry): string {
  return fileURLToPath(new URL(`../lambdas/${entry}/handler.ts`, import.meta.url));
}

/**
 * The one set of esbuild settings. GatewayFunction hands it to NodejsFunction and the bundle test hands it to
 * esbuild directly, so what the test proves is what deploys.
 */
export const ESBUILD_SETTINGS = {
  target: 'node22',
  format: 'esm',
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

/** ESBUILD_SETTINGS as NodejsFunction bundling options: local esbuild, never Docker. */
export function nodejsBundlingOptions(): BundlingOptions {
  return {
    forceDockerBundling: false,
    target: ESBUILD_SETTINGS.target,
    format: OutputFormat.ESM,
    minify: ESBUILD_SETTINGS.minify,
    keepNames: ESBUILD_SETTINGS.keepNames,
    sourceMap: ESBUILD_SETTINGS.sourcemap,
    sourcesContent: ESBUILD_SETTINGS.sourcesContent,
    mainFields: [...ESBUILD_SETTINGS.mainFields],
    banner: ESBUILD_SETTINGS.banner,
    externalModules: [...ESBUILD_SETTINGS.external],
  };
}

/** ESBUILD_SETTINGS as esbuild build options for one entry, as NodejsFunction runs them. */
export function esbuildBuildOptions(entry: LambdaEntry, outdir: string): BuildOptions {
  return {
    entryPoints: [lambdaEntryPath(entry)],
    outdir,
    bundle: true,
    platform: 'node',
    target: ESBUILD_SETTINGS.target,
    format: ESBUILD_SETTINGS.format,
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
