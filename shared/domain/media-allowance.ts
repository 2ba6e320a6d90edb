/**
 * Input tokens that bound each kind of media part from above, for the hold. A part's tokens do
 * not follow its bytes: a URL is a few bytes for a whole image, and a base64 photo is megabytes
 * for a bounded number of tokens. Figures are the largest counts of the mainstream chat models,
 * whatever the surface: a tier may be served by any of them.
 */
export const MEDIA_TOKEN_ALLOWANCE = {
  /**
   * An image with `detail` high or auto: gpt-4o-mini counts 2,833 + 5,667 per 512-px tile, and
   * an image is scaled to at most 2048 x 768 px (8 tiles): 48,169. Others count less (gpt-4o
   * 1,445, gpt-4.1-mini and o4-mini at most ~2,650, Claude ~1,600, Gemini 258 per 768-px tile).
   */
  image: 48_200,
  /** `detail: "low"`: gpt-4o-mini 2,833; Gemini ignores `detail`, 16 tiles of a 3072-px image: 4,128. */
  imageLowDetail: 4_200,
  /**
   * Audio is counted by duration: Gemini 32 tokens a second, the highest rate. The densest
   * accepted encoding is MP3 at 8 kbit/s, 1,333 base64 characters a second, so one token per
   * 32 base64 characters bounds it with room to spare; plus a small constant per part.
   */
  audioBase64CharsPerToken: 32,
  audioPart: 100,
  /**
   * A file (PDF) has no bound in its bytes: text streams are compressed and every page may also
   * count as an image. Only the model's context window bounds it; this is the largest window of
   * the default catalog.
   */
  file: 1_048_576,
} as const;
