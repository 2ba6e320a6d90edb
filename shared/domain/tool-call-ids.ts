import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'call_';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Tool-call ids are minted by the upstream and their format names it (`toolu_…`, `tool_0_…`).
 * Clients get the id sealed (AES-256-GCM) as an opaque `call_…` id and send it back with their
 * tool results, where it is opened again before it goes upstream. Nothing needs storing, and
 * an id the client made up itself passes through unchanged.
 */
export class ToolCallIds {
  private readonly key: Buffer;

  constructor(secret: string | Buffer) {
    this.key = createHash('sha256').update('tiergate tool-call ids\0').update(secret).digest();
  }

  seal(upstreamId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([
      iv,
      cipher.update(upstreamId, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${PREFIX}${sealed.toString('base64url')}`;
  }

  /** The upstream id inside a sealed id; anything else is returned as it is. */
  open(id: string): string {
    if (!id.startsWith(PREFIX)) return id;
    const sealed = Buffer.from(id.slice(PREFIX.length), 'base64url');
    if (sealed.length <= IV_BYTES + TAG_BYTES) return id;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      return id;
    }
  }

  /** Opens the ids of earlier tool calls and tool results in a conversation, in place. */
  openInMessages(messages: unknown): void {
    if (!Array.isArray(messages)) return;
    for (const m of messages) {
      if (typeof m !== 'object' || m === null) continue;
      const message = m as Record<string, unknown>;
      if (typeof message.tool_call_id === 'string') message.tool_call_id = this.open(message.tool_call_id);
      if (Array.isArray(message.tool_calls)) {
        for (const call of message.tool_calls) {
          if (
            typeof call === 'object' &&
            call !== null &&
            typeof (call as { id?: unknown }).id === 'string'
          ) {
            (call as { id: string }).id = this.open((call as { id: string }).id);
          }
        }
      }
    }
  }
}
