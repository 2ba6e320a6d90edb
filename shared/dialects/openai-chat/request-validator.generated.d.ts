// Types of the generated request-validator.generated.js (see scripts/gen-validators.ts).

/** One schema violation, as the generated code reports it (no message: the parser writes those). */
export interface SchemaViolation {
  /** JSON Pointer to the offending value, '' for the body itself. */
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** True when the body matches the strict chat-completions request schema; else see `.errors`. */
export declare function validateChatRequest(data: unknown): boolean;
export declare namespace validateChatRequest {
  let errors: SchemaViolation[] | null | undefined;
}
