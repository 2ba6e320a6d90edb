import { readAdminConfig } from '../../shared/config.js';
import { createAdminHandler } from '../../shared/runtime/admin-handler.js';
import { createLogger, powertoolsLog } from '../../shared/runtime/logger.js';

// Read once at cold start: a missing or bad variable fails here, with its name.
export const handler = createAdminHandler(readAdminConfig(), { log: powertoolsLog(createLogger()) });
