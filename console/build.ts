import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';
import type { ConsolePage } from './page.js';

/**
 * Builds the console into one HTML file: the TypeScript bundled and minified by esbuild, the CSS and the
 * script inlined, and their SHA-256 hashes for the page's Content-Security-Policy. The API base stays a
 * placeholder (API_BASE_PLACEHOLDER in page.ts) that the serving handler fills in.
 */

const STYLE_TAG = '<link rel="stylesheet" href="style.css">';
const SCRIPT_TAG = '<script type="module" src="main.js"></script>';
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const cspHash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export function buildConsolePage(): ConsolePage {
  const built = buildSync({
    entryPoints: [here('./main.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    write: false,
    logLevel: 'error',
  });
  const script = built.outputFiles[0]?.text.trim() ?? '';
  const style = readFileSync(here('./style.css'), 'utf8')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  if (script.includes('</script') || style.includes('</style'))
    throw new Error('The console bundle must not close its own inline tag');
  const template = readFileSync(here('./index.html'), 'utf8');
  for (const tag of [STYLE_TAG, SCRIPT_TAG])
    if (!template.includes(tag)) throw new Error(`console/index.html lacks ${tag}`);
  // One page, one request: the stylesheet and the script inlined where the template links them.
  const html = template
    .split(STYLE_TAG)
    .join(`<style>${style}</style>`)
    .split(SCRIPT_TAG)
    .join(`<script type="module">${script}</script>`);
  return { html, scriptHash: cspHash(script), styleHash: cspHash(style) };
}

/** The page's size as served, and gzipped (what a browser downloads). */
export function consolePageSize(page: ConsolePage): { bytes: number; gzipBytes: number } {
  return { bytes: Buffer.byteLength(page.html), gzipBytes: gzipSync(page.html).length };
}
