import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { ESBUILD_SETTINGS, esbuildBuildOptions, LAMBDA_ENTRIES } from '../../infra/bundling.js';

const outRoot = mkdtempSync(join(tmpdir(), 'tiergate-bundle-'));
afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

// The same options NodejsFunction gets (both come from ESBUILD_SETTINGS), run through esbuild's API.
describe.each(LAMBDA_ENTRIES)('lambdas/%s bundle', (entry) => {
  it('bundles into one loadable ESM file that imports nothing but Node built-ins', async () => {
    const outdir = join(outRoot, entry);
    // esbuild rejects (and the test fails with its message) on any import it cannot resolve.
    const result = await build({ ...esbuildBuildOptions(entry, outdir), metafile: true, logLevel: 'silent' });
    expect(result.errors).toEqual([]);

    const bundlePath = join(outdir, 'handler.mjs');
    expect(statSync(bundlePath).size).toBeGreaterThan(0);
    expect(statSync(`${bundlePath}.map`).size).toBeGreaterThan(0);
    const code = readFileSync(bundlePath, 'utf8');
    expect(code.startsWith(ESBUILD_SETTINGS.banner)).toBe(true);

    // What stays external is loaded by the Lambda runtime: only Node's own modules are there.
    const output =
      result.metafile.outputs[Object.keys(result.metafile.outputs).find((p) => p.endsWith('.mjs')) ?? ''];
    const externals = (output?.imports ?? [])
      .filter((imported) => imported.external)
      .map((imported) => imported.path);
    expect(externals.filter((path) => !isBuiltin(path))).toEqual([]);
    expect(output?.exports).toContain('handler');

    // Parses as a module: catches a clash between the banner's `require` and a bundled top-level one.
    const check = spawnSync(process.execPath, ['--check', bundlePath], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});
