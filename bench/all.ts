/**
 * `npm run bench`: the gateway bench (bench/run.ts) with the flags given, then tier-auto's
 * (bench/router.ts), which takes `--quick` too. One entry point, because npm appends the flags of
 * `npm run bench -- …` to a script's last command only.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);

function run(script: string, argv: string[]): number {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', path, ...argv], { stdio: 'inherit' });
  return child.status ?? 1;
}

const gateway = run('./run.ts', args);
if (gateway !== 0 || args.includes('--help')) process.exit(gateway);
process.exit(run('./router.ts', args.includes('--quick') ? ['--quick'] : []));
