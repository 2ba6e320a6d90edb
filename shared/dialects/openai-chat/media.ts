import type { Json } from '../../domain/json-body.js';
import { MEDIA_TOKEN_ALLOWANCE } from '../../domain/media-allowance.js';

export interface MediaSummary {
  /** Content parts that are not text: images, audio, files. */
  parts: number;
  /** UTF-8 bytes of inline payloads (data: URLs, input_audio.data, file.file_data) in the body. */
  inlineBytes: number;
  /** Upper bound on the input tokens of all media parts. */
  tokenBound: number;
}

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Media in a schema-valid `messages` array. The inline bytes are counted as decoded strings,
 * which never exceed their bytes in the body (JSON escapes only add), so subtracting them from
 * the body's byte length keeps the text bound an upper bound.
 */
export function summariseMedia(messages: readonly Json[]): MediaSummary {
  const summary: MediaSummary = { parts: 0, inlineBytes: 0, tokenBound: 0 };
  for (const message of messages) {
    if (!Array.isArray(message.content)) continue;
    for (const part of message.content as Json[]) {
      if (part.type === 'image_url') {
        const image = part.image_url as { url: string; detail?: string };
        if (/^data:/i.test(image.url)) summary.inlineBytes += utf8Bytes(image.url);
        summary.tokenBound +=
          image.detail === 'low' ? MEDIA_TOKEN_ALLOWANCE.imageLowDetail : MEDIA_TOKEN_ALLOWANCE.image;
      } else if (part.type === 'input_audio') {
        const data = (part.input_audio as { data: string }).data;
        summary.inlineBytes += utf8Bytes(data);
        summary.tokenBound +=
          MEDIA_TOKEN_ALLOWANCE.audioPart +
          Math.ceil(data.length / MEDIA_TOKEN_ALLOWANCE.audioBase64CharsPerToken);
      } else if (part.type === 'file') {
        const data = (part.file as { file_data?: string }).file_data;
        if (typeof data === 'string') summary.inlineBytes += utf8Bytes(data);
        summary.tokenBound += MEDIA_TOKEN_ALLOWANCE.file;
      } else continue;
      summary.parts++;
    }
  }
  return summary;
}
