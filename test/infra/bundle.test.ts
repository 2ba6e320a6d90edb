import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { build, type Metafile } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { CONSOLE_PAGE_FILE } from '../../console/page.js';
import {
  ESBUILD_SETTINGS,
  esbuildBuildOptions,
  LAMBDA_ENTRIES,
  outputsLoadedAtInit,
  PROJECT_ROOT,
} from '../../infra/bundling.js';
import { removeTestOutput, testStack } from './support.js';

const outRoot = mkdtempSync(join(tmpdir(), 'tiergate-bundle-'));
afterAll(() => {
  rmSync(outRoot, { recursive: true, force: true });
  removeTestOutput();
});

type Output = Metafile['outputs'][string];

/** Parses each file named in argv as an ES module, without linking or running it; prints what fails. */
const PARSE_MODULES = `
const { readFileSync } = require('node:fs');
const { SourceTextModule } = require('node:vm');
for (const file of process.argv.slice(1)) {
  try { new SourceTextModule(readFileSync(file, 'utf8'), { identifier: file }); }
  catch (err) { process.stdout.write(file + ': ' + err.message + '\\n'); process.exitCode = 1; }
}`;

const fromPackage = (output: Output | undefined, name: string): boolean =>
  Object.keys(output?.inputs ?? {}).some((input) => input.includes(`node_modules/${name}/`));

// The same options GatewayFunction's asset is built with (both come from esbuildBuildOptions).
describe.each(LAMBDA_ENTRIES)('lambdas/%s bundle', (entry) => {
  it('bundles into loadable ESM files that import nothing but Node built-ins and each other', async () => {
    const outdir = join(outRoot, entry);
    // esbuild rejects (and the test fails with its message) on any import it cannot resolve.
    const result = await build({ ...esbuildBuildOptions(entry, outdir), metafile: true, logLevel: 'silent' });
    expect(result.errors).toEqual([]);

    const bundlePath = join(outdir, 'handler.mjs');
    expect(statSync(bundlePath).size).toBeGreaterThan(0);
    expect(statSync(`${bundlePath}.map`).size).toBeGreaterThan(0);
    const outputs = Object.entries(result.metafile.outputs).filter(([path]) => path.endsWith('.mjs'));
    const entryOutput = outputs.find(([path]) => path.endsWith(`${entry}/handler.mjs`));
    expect(entryOutput?.[1].exports).toContain('handler');

    const files = outputs.map(([path]) => join(PROJECT_ROOT, path));
    for (const [path, output] of outputs) {
      expect(readFileSync(join(PROJECT_ROOT, path), 'utf8').startsWith(ESBUILD_SETTINGS.banner)).toBe(true);
      // What stays external is loaded by the Lambda runtime: only Node's own modules are there.
      const externals = output.imports.filter((i) => i.external).map((i) => i.path);
      expect(externals.filter((p) => !isBuiltin(p))).toEqual([]);
    }
    // Every file parses as a module: catches a clash between the banner's `require` and a bundled top-level one.
    const check = spawnSync(process.execPath, ['--experimental-vm-modules', '-e', PARSE_MODULES, ...files], {
      encoding: 'utf8',
    });
    expect(check.stdout).toBe('');
    expect(check.status).toBe(0);

    // The usage estimate's tokenizer and tier-auto's trained model are never read at cold start,
    // whichever function comes to use them.
    const atInit = outputsLoadedAtInit(result.metafile, entryOutput?.[0] ?? '');
    for (const path of atInit) {
      const output = result.metafile.outputs[path];
      expect(fromPackage(output, 'gpt-tokenizer')).toBe(false);
      expect(
        Object.keys(output?.inputs ?? {}).filter((input) => input.startsWith('shared/routing/')),
      ).not.toContain('shared/routing/model.generated.ts');
    }
    // The public API serves tier-auto: its model is in the bundle, in a chunk of its own.
    if (entry === 'completions') {
      expect(outputs.some(([, output]) => 'shared/routing/model.generated.ts' in output.inputs)).toBe(true);
    }
  });
});

describe('the usage estimate in a bundle', () => {
  it('keeps the tokenizer in a chunk of its own, read and counted on the first estimate only', async () => {
    const outdir = join(outRoot, 'estimate');
    const result = await build({
      ...esbuildBuildOptions('completions', outdir),
      entryPoints: [join(PROJECT_ROOT, 'shared/lifecycle/estimate.ts')],
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = result.metafile.outputs;
    const entryOutput = Object.keys(outputs).find((path) => path.endsWith('estimate/estimate.mjs')) ?? '';
    const tokenizerChunks = Object.keys(outputs).filter(
      (path) => path.endsWith('.mjs') && fromPackage(outputs[path], 'gpt-tokenizer'),
    );
    expect(tokenizerChunks).toHaveLength(1);
    const [tokenizerChunk] = tokenizerChunks;
    expect(outputsLoadedAtInit(result.metafile, entryOutput).has(tokenizerChunk ?? '')).toBe(false);
    expect(outputs[entryOutput]?.imports).toContainEqual({ path: tokenizerChunk, kind: 'dynamic-import' });

    // The bundle loads its chunk from its own folder and counts with it: two tokens for one rare ideograph,
    // times the margin.
    const estimate = (await import(pathToFileURL(join(PROJECT_ROOT, entryOutput)).href)) as {
      estimateOutputTokens(text: string): Promise<number>;
    };
    expect(await estimate.estimateOutputTokens('漢')).toBe(3);
  });
});

describe("a key holder's reads in the completions bundle", () => {
  it('are a chunk of their own, loaded on the first read only: chat requests never load them', async () => {
    const outdir = join(outRoot, 'completions-key-holder');
    const result = await build({
      ...esbuildBuildOptions('completions', outdir),
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = result.metafile.outputs;
    const entryOutput = Object.keys(outputs).find((path) => path.endsWith('/handler.mjs')) ?? '';
    const holding = (input: string) =>
      Object.keys(outputs).filter((path) => Object.keys(outputs[path]?.inputs ?? {}).includes(input));
    const [keyHolderChunk, ...others] = holding('shared/keyholder/key-holder-api.ts');
    expect(others).toEqual([]);
    expect(keyHolderChunk).toBeDefined();
    const atInit = outputsLoadedAtInit(result.metafile, entryOutput);
    expect(atInit.has(keyHolderChunk ?? '')).toBe(false);
    // The report aggregation it shares with the admin API comes with it, not at cold start.
    for (const path of holding('shared/admin/reports.ts')) expect(atInit.has(path)).toBe(false);
  });
});

describe('GatewayFunction assets', () => {
  it('are built by cdk synth, each from its own entry, with its chunks', () => {
    const { app, stack } = testStack({ [BUNDLING_STACKS]: ['**'] });
    const assembly = app.synth();
    type Resource = { Type: string; Properties: { Code?: { S3Key?: string } } };
    const resources = assembly.getStackArtifact(stack.artifactId).template.Resources as Record<
      string,
      Resource
    >;
    const assetDirs = Object.values(resources)
      .filter((resource) => resource.Type === 'AWS::Lambda::Function')
      .map((resource) => `asset.${resource.Properties.Code?.S3Key?.replace(/\.zip$/, '')}`);
    expect(new Set(assetDirs).size).toBe(LAMBDA_ENTRIES.length);
    for (const dir of assetDirs) {
      const handler = readFileSync(join(assembly.directory, dir, 'handler.mjs'), 'utf8');
      expect(handler.startsWith(ESBUILD_SETTINGS.banner)).toBe(true);
      expect(readdirSync(join(assembly.directory, dir, 'chunks')).length).toBeGreaterThan(0);
    }
    // The console function's asset carries the built page beside its handler.
    const pages = assetDirs.filter((dir) => existsSync(join(assembly.directory, dir, CONSOLE_PAGE_FILE)));
    expect(pages).toHaveLength(1);
    const page = JSON.parse(
      readFileSync(join(assembly.directory, pages[0] ?? '', CONSOLE_PAGE_FILE), 'utf8'),
    );
    expect(page.html).toContain('<svg id="chart"');
    expect(page.scriptHash).toMatch(/^'sha256-[A-Za-z0-9+/]+=*'$/);
  });
});
