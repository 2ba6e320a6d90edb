import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from '../http.js';

/**
 * The Powertools logger behind the domain's small Log port. Callers pass ids, codes and
 * figures only: keys, prompts and completions are never logged.
 */
export function powertoolsLog(logger: Logger): Log {
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

export const createLogger = (serviceName = 'tiergate'): Logger => new Logger({ serviceName });
