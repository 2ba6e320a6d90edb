/**
 * Characters that make a name unsafe to log or print: C0 and C1 controls (CR and LF included,
 * ESC and CSI start terminal escape sequences), line and paragraph separators, and the
 * bidirectional controls that reorder what a terminal shows.
 */
const CONTROL_CLASS = '[\\p{Cc}\\p{Bidi_Control}\\u2028\\u2029]';

export const CONTROL_CHARACTERS = new RegExp(CONTROL_CLASS, 'gu');

const ANY_CONTROL = new RegExp(CONTROL_CLASS, 'u');

export const hasControlCharacters = (text: string): boolean => ANY_CONTROL.test(text);

export const NO_CONTROL_CHARACTERS = 'must not contain control characters or line breaks';
