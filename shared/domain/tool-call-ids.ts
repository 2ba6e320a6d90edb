import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'call_';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Plaintext sizes: every id up to 63 bytes seals to the same length; longer ones to steps of 256. */
const SMALL_BLOCK = 64;
const LARGE_BLOCK = 256;
const PAD_MARK = 0x80;

const paddedSize = (bytes: number): number =>
  bytes < SMALL_BLOCK ? SMALL_BLOCK : Math.ceil((bytes + 1) / LARGE_BLOCK) * LARGE_BLOCK;

/** The id's bytes, a 0x80 mark and zeros up to the padded size (ISO/IEC 7816-4 padding). */
function pad(id: string): Buffer {
  const bytes = Buffer.from(id, 'utf8');
  const out = Buffer.alloc(paddedSize(bytes.length));
  bytes.copy(out);
  out[bytes.length] = PAD_MARK;
  return out;
}

/** The id inside padded plaintext; plaintext that is not padded (ids sealed before padding) as it is. */
function unpad(plain: Buffer): string {
  if (plain.length !== paddedSize(plain.length - 1)) return plain.toString('utf8');
  let end = plain.length - 1;
  while (end > 0 && plain[end] === 0) end--;
  return plain[end] === PAD_MARK ? plain.subarray(0, end).toString('utf8') : plain.toString('utf8');
}

/**
 * Tool-call ids are minted by the upstream and their format names it (`toolu_…`, `tool_0_…`).
 * Clients get the id sealed (AES-256-GCM) as an opaque `call_…` id and send it back with their
 * tool results, where it is opened again before it goes upstream. Nothing needs storing, and
 * an id the client made up itself passes through unchanged. The id is padded before sealing, so
 * the sealed length does not tell one provider's id format from another's.
 */
export class ToolCallIds {
  private readonly key: Buffer;

  constructor(secret: string | Buffer) {
    this.key = createHash('sha256').update('tiergate tool-call ids\0').update(secret).digest();
  }

  seal(upstreamId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([iv, cipher.update(pad(upstreamId)), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${sealed.toString('base64url')}`;
  }

  /**
   * Seals for one response: each upstream id is sealed once, so the chunks that repeat it (some
   * upstreams send the id on every argument delta) and a result that refers to it (a server tool's)
   * all carry the same client id.
   */
  sealer(): (upstreamId: string) => string {
    const sealed = new Map<string, string>();
    return (upstreamId) => {
      let id = sealed.get(upstreamId);
      if (id === undefined) {
        id = this.seal(upstreamId);
        sealed.set(upstreamId, id);
      }
      return id;
    };
  }

  /** The upstream id inside a sealed id; anything else is returned as it is. */
  open(id: string): string {
    if (!id.startsWith(PREFIX)) return id;
    const sealed = Buffer.from(id.slice(PREFIX.length), 'base64url');
    if (sealed.length <= IV_BYTES + TAG_BYTES) return id;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return unpad(
        Buffer.concat([
          decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
          decipher.final(),
        ]),
      );
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
