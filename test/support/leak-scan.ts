/**
 * What clients saw, and the terms none of it may contain: the shared machinery of the leak-bait
 * tests. Terms are matched case-insensitively; shorter than three characters they are ignored.
 */
export class LeakScan {
  /** Everything a client saw, labelled by where it came from. */
  readonly seen: Array<{ source: string; text: string }> = [];
  /** Lower-case terms that must appear nowhere in what clients see. */
  readonly denied = new Set<string>();

  deny = (term: string | undefined): void => {
    if (term && term.trim().length >= 3) this.denied.add(term.trim().toLowerCase());
  };

  /** Model ids, their provider prefixes and the distinctive words of their names. */
  denyModelId = (id: string): void => {
    this.deny(id);
    for (const part of id.split('/')) {
      this.deny(part);
      for (const word of part.split(/[-_.:]/)) if (/^[a-z]{5,}$/i.test(word)) this.deny(word);
    }
  };

  record = (source: string, text: string): void => {
    this.seen.push({ source, text });
  };

  /** Records a response's headers and body; returns the body. */
  recordResponse = async (source: string, res: Response): Promise<string> => {
    for (const [name, value] of res.headers.entries()) this.record(`${source} header`, `${name}: ${value}`);
    const text = await res.text();
    this.record(`${source} body`, text);
    return text;
  };

  /** Every denied term in every text, with where it was found. */
  leaksIn = (
    texts: ReadonlyArray<{ source: string; text: string }>,
  ): Array<{ term: string; where: string }> => {
    const leaks: Array<{ term: string; where: string }> = [];
    for (const { source, text } of texts) {
      const lower = text.toLowerCase();
      for (const term of this.denied) {
        const at = lower.indexOf(term);
        if (at !== -1) {
          leaks.push({
            term,
            where: `${source}: "${term}" in …${text.slice(Math.max(0, at - 60), at + 60)}…`,
          });
        }
      }
    }
    return leaks;
  };
}
