import type { ProbeEnv } from './env.js';
import { checkMessagesStream, requestIdOfMessage } from './messages-checks.js';
import type { ProbeState } from './state.js';
import {
  type CallResult,
  callPublicApi,
  catalogLeakTerms,
  failedCall,
  gatewayHeaderProblems,
  need,
  noAnswer,
  PROBE_MAX_COMPLETION_TOKENS,
  PROBE_PROMPT,
  timer,
} from './step-kit.js';

/** A Claude family name, as Claude Code sends it: the gateway maps any `haiku` to tier-1, the probe's tier. */
export const PROBE_CLAUDE_MODEL = 'claude-haiku-4-5';
/** The protocol version the Anthropic SDKs send. */
const ANTHROPIC_VERSION = '2023-06-01';

/**
 * Messages: through the public Function URL, one streamed Anthropic Messages completion, as Claude Code makes it
 * (`x-api-key`, a Claude model name). It must follow Anthropic's event grammar to its message_stop, name only
 * the tier and the gateway's id, and show no upstream anywhere. Its request id and the usage its client was told
 * go to VerifyBilling, which checks the request was billed on exactly that usage.
 */
export async function completeMessages(env: ProbeEnv, state: ProbeState): Promise<ProbeState> {
  const t = timer(env, 'Messages');
  const apiKey = need(state.apiKey, 'the probe key', 'Messages');
  const terms = await catalogLeakTerms(env, t);
  const body = {
    model: PROBE_CLAUDE_MODEL,
    max_tokens: PROBE_MAX_COMPLETION_TOKENS,
    stream: true,
    messages: [{ role: 'user', content: PROBE_PROMPT }],
  };
  let result: CallResult;
  try {
    result = await callPublicApi(
      env,
      '/v1/messages',
      { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION },
      body,
    );
  } catch (err) {
    throw t.fail(`streamed message: no answer (${noAnswer(err)})`, err);
  }
  if (result.status !== 200) throw t.fail(`streamed message: ${failedCall(result)}`);
  const problems = gatewayHeaderProblems(result, terms);
  if (!result.headers.get('content-type')?.includes('text/event-stream')) {
    problems.push('content-type is not text/event-stream');
  }
  const stream = checkMessagesStream(result.text, terms);
  problems.push(...stream.problems);
  const requestId = result.headers.get('request-id') ?? '';
  if (result.headers.get('x-request-id') !== requestId) problems.push('request-id and x-request-id differ');
  if (stream.messageId !== undefined && requestIdOfMessage(stream.messageId) !== requestId) {
    problems.push('the message id does not carry the request-id');
  }
  if (problems.length > 0 || !stream.reported) throw t.fail(`streamed message: ${problems.join('; ')}`);
  return {
    ...state,
    requestIds: [...(state.requestIds ?? []), requestId],
    messages: { requestId, ...stream.reported },
    steps: [...state.steps, t.pass()],
  };
}
