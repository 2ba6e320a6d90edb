/**
 * The path of the first key that an object in a JSON text gives twice, e.g. ['tiers', 'tier-1',
 * 'price']; undefined when there is none. JSON.parse keeps the last of duplicate keys silently,
 * so an admin body that says two things must be refused before it is parsed into one.
 * `text` must be valid JSON (parse it first).
 */
export function duplicateKeyPath(text: string): string[] | undefined {
  /** Open containers: an object's keys so far, or an array's index; `at` is the child being read. */
  const open: Array<{ keys?: Set<string>; index: number; at: string }> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const frame = open.at(-1);
      if (expectKey && frame?.keys) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (frame.keys.has(key)) return [...open.slice(0, -1).map((f) => f.at), key];
        frame.keys.add(key);
        frame.at = key;
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      open.push({ keys: new Set(), index: 0, at: '' });
      expectKey = true;
    } else if (c === '[') {
      open.push({ index: 0, at: '0' });
    } else if (c === '}' || c === ']') {
      open.pop();
      expectKey = false;
    } else if (c === ',') {
      const frame = open.at(-1);
      if (frame?.keys) expectKey = true;
      else if (frame) frame.at = String(++frame.index);
    }
  }
  return undefined;
}

/** Index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length;
}
