/**
 * Usage estimates for requests whose upstream sent no usage. Upper bounds: UTF-8 bytes bound the
 * tokens of any byte-level tokenizer from above.
 */
export interface InputEstimateOptions {
  mediaParts: number;
  mediaAllowance: number;
  inlineMediaBytes?: number;
  byteBound: number;
}

export async function estimateInputTokens(
  forwardedBody: Record<string, unknown>,
  opts: InputEstimateOptions,
): Promise<number> {
  const bytes = Buffer.byteLength(JSON.stringify(forwardedBody)) - (opts.inlineMediaBytes ?? 0);
  return Math.min(opts.byteBound, Math.max(0, bytes) + opts.mediaParts * opts.mediaAllowance);
}

export async function estimateOutputTokens(generatedText: string): Promise<number> {
  return Buffer.byteLength(generatedText);
}
