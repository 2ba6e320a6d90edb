import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What `npm start` keeps in TIERGATE_DATA_DIR besides DynamoDB Local's data, so a restart
 * reuses the admin token, the demo account and its key instead of minting new ones, and
 * tool-call ids sealed before the restart still open. The file holds secrets: it is written
 * with mode 0600.
 */
export interface LocalState {
  /** The generated admin token (absent when TIERGATE_ADMIN_TOKEN is always given). */
  adminToken?: string;
  demo?: { accountId: string; apiKey: string };
  toolCallIdSecret: string;
}

export const LOCAL_STATE_FILE = 'tiergate-local.json';

export const newToolCallIdSecret = (): string => randomBytes(32).toString('base64url');

/** The saved state, or undefined when there is none (or it cannot be read). */
export function loadLocalState(dataDir: string): LocalState | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(dataDir, LOCAL_STATE_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { adminToken, demo, toolCallIdSecret } = parsed as Record<string, unknown>;
  if (typeof toolCallIdSecret !== 'string' || toolCallIdSecret.length < 16) return undefined;
  const demoOk =
    typeof demo === 'object' &&
    demo !== null &&
    typeof (demo as Record<string, unknown>).accountId === 'string' &&
    typeof (demo as Record<string, unknown>).apiKey === 'string';
  return {
    toolCallIdSecret,
    ...(typeof adminToken === 'string' && adminToken ? { adminToken } : {}),
    ...(demoOk ? { demo: demo as LocalState['demo'] & object } : {}),
  };
}

export function saveLocalState(dataDir: string, state: LocalState): void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCAL_STATE_FILE);
  writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  // `mode` applies only when the file is created: tighten a file that already existed too.
  chmodSync(path, 0o600);
}
