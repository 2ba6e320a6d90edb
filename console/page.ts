/** The built console page, as the build writes it and the serving handlers read it (no build tooling here). */

export const API_BASE_PLACEHOLDER = '__TIERGATE_API_BASE__';

/** The file beside the console function's handler.mjs that holds the built page. */
export const CONSOLE_PAGE_FILE = 'console-page.json';

export interface ConsolePage {
  /** The page, with API_BASE_PLACEHOLDER where the API's base URL goes ('' for the page's own origin). */
  html: string;
  /** CSP source expressions of the inline script and style. */
  scriptHash: string;
  styleHash: string;
}
