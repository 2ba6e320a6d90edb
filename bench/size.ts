import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { buildConsolePage, consolePageSize } from '../console/build.js';
import {
  esbuildBuildOptions,
  LAMBDA_ENTRIES,
  outputsLoadedAtInit,
  PROJECT_ROOT,
  writeEntryFiles,
} from '../infra/bundling.js';

/**
 * `npm run size`: each function bundled exactly as it deploys, the size (raw and gzipped) of what
 * its cold start loads (handler.mjs and the chunks it imports statically), what dominates it, the
 * size of the chunks it loads only on demand (dynamic imports), and its cold module-init time
 * measured by importing the bundle in a fresh Node process (median of several runs).
 */

const RUNS = Number(process.argv.find((a) => a.startsWith('--runs='))?.split('=')[1] ?? 7);

// What each function reads at cold start; the values only need to exist.
const ENV_FOR_INIT = {
  LEDGER_TABLE_NAME: 'ledger',
  REQUEST_LOG_TABLE_NAME: 'requests',
  EVENT_BUS_NAME: 'bus',
  PUBLIC_FUNCTION_NAME: 'tiergate-completions',
  TOOL_CALL_ID_SECRET: 'a-local-key-of-32-characters-xxx',
  DAILY_SPEND_CAP_USD: '50',
  PROBE_PUBLIC_URL: 'https://abcdefgh12345678.lambda-url.us-east-1.on.aws/',
  PROBE_ADMIN_URL: 'https://ijklmnop12345678.lambda-url.us-east-1.on.aws/',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

// Lambda provides `awslambda` to streaming handlers; a no-op stand-in lets the bundle load.
const INIT_SCRIPT = `
globalThis.awslambda ??= { streamifyResponse: (h) => h, HttpResponseStream: { from: (s) => s } };
const started = performance.now();
await import(process.argv[1]);
process.stdout.write(String(performance.now() - started));
`;

function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return match?.[1] ?? (path.startsWith('shared/') || path.startsWith('lambdas/') ? '(tiergate)' : path);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

async function main(): Promise<void> {
  const outRoot = mkdtempSync(join(tmpdir(), 'tiergate-size-'));
  const rows: Array<Record<string, unknown>> = [];
  try {
    for (const entry of LAMBDA_ENTRIES) {
      const outdir = join(outRoot, entry);
      const result = await build({
        ...esbuildBuildOptions(entry, outdir),
        metafile: true,
        logLevel: 'silent',
      });
      writeEntryFiles(entry, outdir);
      const file = join(outdir, 'handler.mjs');
      const outputs = Object.keys(result.metafile.outputs).filter((o) => o.endsWith('.mjs'));
      const atInit = outputsLoadedAtInit(
        result.metafile,
        outputs.find((o) => o.endsWith(`${entry}/handler.mjs`)) ?? '',
      );
      const sizeOf = (output: string) => statSync(join(PROJECT_ROOT, output)).size;
      const bytes = [...atInit].reduce((sum, output) => sum + sizeOf(output), 0);
      const gzipBytes = [...atInit].reduce(
        (sum, output) => sum + gzipSync(readFileSync(join(PROJECT_ROOT, output))).length,
        0,
      );
      const lazyBytes = outputs
        .filter((o) => !atInit.has(o))
        .reduce((sum, output) => sum + sizeOf(output), 0);
      const byPackage = new Map<string, number>();
      for (const output of atInit) {
        for (const [path, input] of Object.entries(result.metafile.outputs[output]?.inputs ?? {})) {
          byPackage.set(packageOf(path), (byPackage.get(packageOf(path)) ?? 0) + input.bytesInOutput);
        }
      }
      const top = [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4);
      const initMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const run = spawnSync(process.execPath, ['--input-type=module', '-e', INIT_SCRIPT, file], {
          env: { ...process.env, ...ENV_FOR_INIT },
          encoding: 'utf8',
        });
        if (run.status !== 0) throw new Error(`${entry}: bundle failed to load: ${run.stderr.slice(-800)}`);
        initMs.push(Number(run.stdout));
      }
      rows.push({
        function: entry,
        bytes,
        gzipBytes,
        lazyBytes,
        initMsMedian: Math.round(median(initMs) * 10) / 10,
        top: top.map(([pkg, b]) => ({ package: pkg, bytes: b })),
      });
    }
  } finally {
    rmSync(outRoot, { recursive: true, force: true });
  }
  const kb = (b: unknown) => `${(Number(b) / 1024).toFixed(0)} KiB`;
  process.stdout.write('\nfunction     bundle     gzip  on demand  init (median)  largest parts\n');
  for (const r of rows) {
    const top = (r.top as Array<{ package: string; bytes: number }>)
      .map((t) => `${t.package} ${kb(t.bytes)}`)
      .join(', ');
    process.stdout.write(
      `${String(r.function).padEnd(12)} ${kb(r.bytes).padStart(8)} ${kb(r.gzipBytes).padStart(8)} ${kb(r.lazyBytes).padStart(10)} ${`${r.initMsMedian} ms`.padStart(14)}   ${top}\n`,
    );
  }
  const consolePage = consolePageSize(buildConsolePage());
  process.stdout.write(
    `\nconsole page (HTML, CSS and script in one file): ${kb(consolePage.bytes)}, ${kb(consolePage.gzipBytes)} gzipped\n`,
  );
  const out = join(PROJECT_ROOT, 'bench/results/size.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ node: process.version, runs: RUNS, functions: rows, consolePage }, null, 2)}\n`,
  );
  process.stdout.write(`\nwritten to ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`size: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
