/**
 * What the router reads of a request, whatever its surface (chat completions, Messages), and the
 * classifier's features: hashed word uni- and bigrams, character trigrams (so languages written
 * without spaces count too), shape tokens (length, turns, code, maths), cue words and flags, and
 * every pair of those. No vocabulary is stored: a feature's index is its FNV-1a hash modulo the
 * model's dimension.
 */

/** The dialect-neutral view of a request that routing decides on. */
export interface RouteInput {
  /** System prompt text (all system parts joined). */
  system: string;
  /** The last user message's text. */
  prompt: string;
  /** Earlier user messages' text, oldest first. */
  history: string[];
  /** Characters of text across every message. */
  chars: number;
  /** Tools or tool_choice were sent. */
  tools: boolean;
  /** An image, audio or file part was sent. */
  media: boolean;
  /** A JSON schema constrains the answer. */
  jsonSchema: boolean;
  /** The client's reasoning request (`reasoning_effort`, or `thinking` on Messages). */
  reasoning: string | undefined;
}

/** A sparse, L2-normalised feature vector. */
export interface Features {
  indices: number[];
  values: number[];
}

const WORD = /[\p{L}\p{N}]+/gu;
const CODE = /```|[{};]\s*$|\b(def|function|class|return|import|select|const|fn)\b|=>|\(\)/mu;
const MATHS = /[=^√∑∫≡]|\d\s*[-+*/x×]\s*\d|\b(mod|prove|derive|integral|probability)\b/;
/**
 * Cue words grouped by the kind of work they usually ask for, in several languages. They are
 * features, not rules: the model learns how much each group counts, so a keyword trap ("classify
 * this architecture article") is outweighed by the rest of the request.
 *
 * These patterns, and the shape patterns below, have no `u` flag: with it V8 matches such long
 * case-insensitive alternations about ten times slower (2.3 ms against 0.8 ms for the features of
 * a request with 20,000 characters of text), and they need none (`\b` and `\w` are ASCII either
 * way, every letter is one UTF-16 unit). The features of every labelled and blind example are the
 * same with and without it.
 */
const CUES: ReadonlyArray<[string, RegExp]> = [
  [
    'simple',
    /\b(classify|classif\w*|label|tag|categori[sz]e|extract\w*|extrai\w*|convert|translate|tradu\w*|übersetz\w*|yes|no|true|false|oui|non|sí|format|normali[sz]e|spell|count|return only|one word|single|sentiment|reply with|answer with|which|is this|does this|uppercase|lowercase|capitali[sz]e|shorten|wrap|alphabetical|round|plural|synonym|antonym|opposite|abbreviation|stand for|capital of|currency|in words|decimal|valid|mark each|odd one out|slug|redact|strip|remove|sort|pick|respond with)\b/gi,
  ],
  [
    'workhorse',
    /\b(write|draft|explain|summari[sz]e|summary|review|refactor|generate|create|rewrite|improve|help me|email|blog|tests?|function|script|readme|docs?|letter|post|story|outline|escrib\w*|rédige\w*|fasse|scrivi|resuma|zusammen\w*)\b/gi,
  ],
  [
    'frontier',
    /\b(architect\w*|design|concev\w*|diseñ\w*|root cause|debug\w*|diagnos\w*|investigat\w*|deadlock|race|leak|concurren\w*|consisten\w*|failover|partition|security|threat|vulnerab\w*|attack|audit|legal|regulat\w*|complian\w*|risk\w*|rischi|liability|gdpr|migration|scal\w*|distributed|production|outage|trade-offs?|critique|assess\w*|evaluat\w*|analy[sz]\w*|avalie|bewert\w*|sicherheit\w*|risiken|non-determinis\w*|corrupt\w*|retain\w*|antitrust|enforceab\w*|exposure|trace the|root-cause|hotspots?|sharding)\b/gi,
  ],
  [
    'reasoning',
    /\b(prove|proof|démontre\w*|beweis\w*|dimostra|derive|solve|resuelve|theorem|lemma|induction|probabilit\w*|odds|expected|integral|derivative|calculus|equation|inequalit\w*|optimi[sz]\w*|optimal|maximi[sz]e|minimi[sz]e|schedule|puzzle|riddle|paradox|logic\w*|deduce|infer|counterexample|invariant|step by step|paso a paso|show (the|your) (work|steps|calculus|reasoning)|show that|justify|justif\w*|find all|for (all|every|each)|if and only if|at (least|most)|fewest|explain carefully|how (many|fast|long|much)|how many ways|combinatori\w*|permutations?|recurrence|modulo|mod|prime|graph|shortest|plan|allocate|strategy|game|chess|mate|legal moves?|calculate|compute|estimate|reason\w*|rigorous\w*|argument|diverge\w*|converge\w*|general pattern|n\s*=\s*\d+|big-o|complexity|worst case|berechne\w*|wahrscheinlichkeit\w*|zeige|schritt für schritt|mindestens|calcul\w*|probabilit\w*|probabilidad\w*|démontr\w*|demuestr\w*|demostr\w*|dimostr\w*|prove que|mostre|raciocínio|razonamiento|raisonnement|ragionamento|herleit\w*|leite)\b/gi,
  ],
  [
    'nuance',
    /\b(nuanc\w*|subtl\w*|careful\w*|balanc\w*|without (being|making|sounding|losing|admitting)|sensitive|delicate|diplomatic\w*|compassion\w*|empath\w*|restraint|ambigu\w*|unreliable|persuasive|honest\w*|respectful|tactful|grieving|difficult|high-stakes|délicat\w*|einfühlsam\w*|heikel\w*|sobri\w*|delicad\w*)\b/gi,
  ],
];
const CJK_REASONING =
  /[証证推][明理]|段階的|一步一步|方程|確率|概率|求め|求解|途中式|最適|最优|計算|计算|至少|最少|理由|証明|几个|多少种/u;
const CJK_WORKHORSE = /[写寫]|解[释釋]|説明|レビュー|[邮郵]件|書いて|改善/u;
/** Cyrillic cues (`\b` is ASCII-only, so the word lists above never match Cyrillic). */
const CYRILLIC_REASONING = /доказ|докаж|найди|сколько|вероятност|остат|вычисл|реши/i;
const CYRILLIC_FRONTIER = /спроектир|архитектур|шардир|масштабир|утечк|гонк/i;
const CJK_FRONTIER = /架构|設計|设计|原因|故障|障害|リーク|一致性|一貫性|分布式|分析|泄漏/u;
/** A quoted passage is the material to work on, not the ask: its words are not cues. */
const QUOTED =
  /(^|[\s:(¿¡])(?:'[^'\n]{2,}'|"[^"\n]{2,}"|“[^”\n]{2,}”|«[^»\n]{2,}»|„[^“\n]{2,}“|「[^」\n]{1,}」)(?=$|[\s.,;:!?)])/gu;
/** Several numbers in a short ask usually mean working something out. */
const NUMBERS = /\d+(?:[.,]\d+)?/gu;
/**
 * Numbers too big to work out by hand: powers, factorials, residues. A short prompt with one is
 * usually number theory ("last digit of 3^1000"), whatever its length says.
 */
const BIG_NUMBER = /\d\s*(?:\^|\*\*)\s*\d|\d\s*!|\b(?:mod|gcd|lcm)\b|φ\s*\(|≡|\d{4,}\s*(?:factorial|!)/i;
/** A quantity at scale (terabytes, millions of users, QPS): systems work, however short the ask. */
const SCALE =
  /\d\s*(?:[tpg]b|тб|qps|rps|k\b)|\d\s*(?:million|billion|millones|millions|milliarden|миллион\w*|千万|万)|(?:千万|百万|億)/i;
/** Asking to build something whole (implement / write / build a …) rather than use it. */
const BUILD =
  /\b(?:implement|write|build|code)\s+(?:a|an|the|your own|me a)?\s*(?:[\w-]+\s+){0,3}(?:in|with|for)\s+(?:c\b|c\+\+|rust|go\b|java|zig|python|typescript)|\bwith\s+(?:deletion|rebalancing|compaction|coalescing|memory orderings)\b/i;

/** Words read from each text: beyond this, a long paste adds nothing but time. */
const MAX_WORDS = 400;
/** Characters of the system prompt and of the prompt that the shape and cue patterns read. */
const SHAPE_CHARS = 4_000;
/** Earlier user turns read for context. */
const HISTORY_TURNS = 2;
/** A prompt shorter than this after earlier turns is a follow-up: the turns before it say what it asks. */
const FOLLOW_UP_CHARS = 80;

/** FNV-1a of `text` continued from `hash` (an unfinished 32-bit state). */
function fnvMore(hash: number, text: string): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function fnvChar(hash: number, code: number): number {
  return Math.imul(hash ^ code, 0x01000193);
}

/** FNV-1a over the four bytes of a 32-bit word, low byte first. */
function fnvWord(hash: number, word: number): number {
  let h = hash;
  for (let shift = 0; shift < 32; shift += 8) h = fnvChar(h, (word >>> shift) & 0xff);
  return h;
}

const FNV_SEED = 0x811c9dc5;
const PAIR_SEED = fnvMore(FNV_SEED, 'pair:');
/** FNV-1a, 32 bits. */
export const fnv1a = (text: string): number => fnvMore(FNV_SEED, text) >>> 0;
/** A feature's bucket: its name's FNV-1a modulo the dimension. */
const bucketOf = (hash: number, dim: number): number => (hash >>> 0) & (dim - 1);

/**
 * Where features go: hashed straight into buckets, without building their names (a long prompt has
 * thousands of n-grams). Reused between calls: scoring is synchronous, so one at a time.
 */
class Buckets {
  values = new Float64Array(0);
  touched: number[] = [];
  /** The hashes of the request's shape, cue and flag features (`mark`), each once. */
  marks: number[] = [];
  dim = 0;

  reset(dim: number): void {
    if (this.dim !== dim) {
      this.values = new Float64Array(dim);
      this.dim = dim;
    }
    this.touched.length = 0;
    this.marks.length = 0;
  }

  addHash(hash: number, value: number): void {
    const index = bucketOf(hash, this.dim);
    const values = this.values;
    const old = values[index] as number;
    if (old === 0) this.touched.push(index);
    values[index] = old + value;
  }

  add(name: string, value: number): void {
    this.addHash(fnvMore(FNV_SEED, name), value);
  }

  /** A shape, cue or flag feature: every pair of them is a feature too (see `addPairs`). */
  mark(name: string, value: number): void {
    const hash = fnvMore(FNV_SEED, name);
    this.addHash(hash, value);
    if (!this.marks.includes(hash)) this.marks.push(hash);
  }

  /**
   * Every pair of marked features as one more feature (weight 1): the linear model can then weigh
   * a combination apart from its parts, such as a short ask with a maths cue and several numbers
   * (an easy sum) against a short ask with a maths cue and a big number (number theory). A pair's
   * hash mixes its two hashes in a fixed order, so no name is built.
   */
  addPairs(): void {
    const marks = this.marks.sort((a, b) => a - b);
    for (let i = 0; i < marks.length; i++) {
      const first = fnvWord(PAIR_SEED, marks[i] as number);
      for (let j = i + 1; j < marks.length; j++) this.addHash(fnvWord(first, marks[j] as number), 1);
    }
  }
}

/** Characters of a text first lower-cased in search of its first MAX_WORDS words. */
const WORDS_PREFIX_CHARS = 8_192;

/**
 * The first MAX_WORDS words of the lower-cased text (a long paste is not split further). Only a
 * start of the text is lower-cased, longer only when it holds too few words: the same words as
 * lower-casing it all, in time that does not grow with a paste.
 */
export function firstWords(text: string): string[] {
  for (let limit = WORDS_PREFIX_CHARS; ; limit *= 4) {
    // The start is cut at a space: it splits no word and no surrogate pair, and a letter before
    // it lower-cases as it does in the whole text (a final sigma stays final).
    const cut = limit >= text.length ? text.length : lastSpaceBefore(text, limit);
    if (cut === -1) continue;
    const whole = cut === text.length;
    const lower = text.slice(0, cut).toLowerCase();
    const words: string[] = [];
    WORD.lastIndex = 0;
    for (let m = WORD.exec(lower); m !== null && words.length < MAX_WORDS; m = WORD.exec(lower))
      words.push(m[0]);
    if (whole || words.length === MAX_WORDS) return words;
  }
}

/** The index of the last white space before `end`, or -1. */
function lastSpaceBefore(text: string, end: number): number {
  for (let i = end - 1; i >= 0; i--) if (SPACE.test(text[i] as string)) return i;
  return -1;
}
const SPACE = /\s/;

/** How many of `chars` the text holds, counting up to `max` (indexOf scans without a regex). */
function countChars(text: string, chars: readonly string[], max: number): number {
  let count = 0;
  for (const char of chars) {
    for (let at = text.indexOf(char); at !== -1 && count < max; at = text.indexOf(char, at + 1)) count++;
  }
  return Math.min(count, max);
}

function addText(out: Buckets, text: string, prefix: string, weight: number): void {
  const words = firstWords(text);
  const n = words.length;
  const wordSeed = fnvMore(FNV_SEED, `${prefix}w:`);
  const bigramSeed = fnvMore(FNV_SEED, `${prefix}b:`);
  const trigramSeed = fnvMore(FNV_SEED, `${prefix}c:`);
  const trigramWeight = weight * 0.5;
  for (let i = 0; i < n; i++) {
    const word = words[i] as string;
    out.addHash(fnvMore(wordSeed, word), weight);
    if (i > 0) out.addHash(fnvMore(fnvChar(fnvMore(bigramSeed, words[i - 1] as string), 32), word), weight);
    // Character trigrams of ` word ` (the word's first 24 code units), as `${prefix}c:abc`.
    const length = Math.min(24, word.length) + 2;
    let a = 32;
    let b = word.charCodeAt(0);
    for (let j = 2; j < length; j++) {
      const c = j === length - 1 ? 32 : word.charCodeAt(j - 1);
      out.addHash(fnvChar(fnvChar(fnvChar(trigramSeed, a), b), c), trigramWeight);
      a = b;
      b = c;
    }
  }
}

function countMatches(pattern: RegExp, text: string): number {
  pattern.lastIndex = 0;
  let hits = 0;
  while (pattern.exec(text) !== null) hits++;
  return hits;
}

function addCues(out: Buckets, text: string, prefix: string): void {
  for (const [cue, pattern] of CUES) {
    const hits = countMatches(pattern, text);
    if (hits > 0) out.mark(`${prefix}:${cue}`, Math.min(3, hits));
  }
  if (CJK_REASONING.test(text)) out.mark(`${prefix}:reasoning`, 1);
  if (CJK_WORKHORSE.test(text)) out.mark(`${prefix}:workhorse`, 1);
  if (CJK_FRONTIER.test(text) || CYRILLIC_FRONTIER.test(text)) out.mark(`${prefix}:frontier`, 1);
  if (CYRILLIC_REASONING.test(text)) out.mark(`${prefix}:reasoning`, 1);
}

const QUESTION_MARKS = ['?', '？', '¿'];
const WHY = /\bwhy\b|warum|pourquoi|por qué|perché|为什么|なぜ/i;

/** The classifier's view of a request, each feature (by name) added to its bucket. */
function addFeatures(out: Buckets, input: RouteInput): void {
  addText(out, input.prompt, '', 1);
  if (input.system !== '') addText(out, input.system, 's', 0.5);
  const followUp = input.history.length > 0 && input.prompt.length < FOLLOW_UP_CHARS;
  const recent = input.history.slice(-HISTORY_TURNS);
  for (const turn of recent) addText(out, turn, 'h', followUp ? 1 : 0.5);
  // Shapes and cues read the start of a long paste only: the ask is rarely at its end, and time is bounded.
  const text = `${input.system.slice(0, SHAPE_CHARS)}\n${input.prompt.slice(0, SHAPE_CHARS)}`;
  out.mark(`len:${Math.min(12, Math.floor(Math.log2(input.prompt.length + 1)))}`, 1);
  out.mark(`turns:${Math.min(4, input.history.length)}`, 1);
  if (CODE.test(text)) out.mark('shape:code', 1);
  if (MATHS.test(text)) out.mark('shape:maths', 1);
  if (input.prompt.includes('?')) out.mark('shape:question', 1);
  const ask = text.replace(QUOTED, '$1 ');
  if (ask.length !== text.length) out.mark('shape:quoted', 1);
  addCues(out, ask, 'cue');
  // A follow-up ("and what if there were 5 coins?") inherits the kind of work of the turns before it.
  if (recent.length > 0)
    addCues(out, recent.map((turn) => turn.slice(0, SHAPE_CHARS)).join('\n'), followUp ? 'fcue' : 'hcue');
  if (followUp) out.mark('shape:followup', 1);
  const questions = countChars(input.prompt, QUESTION_MARKS, 3);
  if (questions >= 2) out.mark(`shape:questions${questions}`, 1);
  if (WHY.test(ask)) out.mark('shape:why', 1);
  const numbers = Math.min(3, countMatches(NUMBERS, text));
  if (numbers >= 2) out.mark(`shape:numbers${numbers}`, 1);
  const short = input.prompt.length < 80 ? 'short' : 'long';
  if (BIG_NUMBER.test(ask)) out.mark(`shape:bignumber:${short}`, 1);
  if (SCALE.test(ask)) out.mark(`shape:scale:${short}`, 1);
  if (BUILD.test(ask)) out.mark(`shape:build:${short}`, 1);
  // Few words carry many features less than a long prompt does: mark the short ask as such.
  if (MATHS.test(ask) && input.prompt.length < 80) out.mark('shape:shortmaths', 1);
  if (input.tools) out.mark('flag:tools', 1);
  if (input.media) out.mark('flag:media', 1);
  if (input.jsonSchema) out.mark('flag:json', 1);
  out.addPairs();
  out.add('bias', 1);
}

const scratch = new Buckets();

/** Hashes the features into `dim` buckets (a power of two) and normalises the vector. */
export function extractFeatures(input: RouteInput, dim: number): Features {
  scratch.reset(dim);
  addFeatures(scratch, input);
  const { values: buckets, touched } = scratch;
  // Every feature's weight is positive, so a touched bucket is listed once and is never 0.
  const indices = touched.slice().sort((a, b) => a - b);
  let norm = 0;
  for (const i of indices) norm += (buckets[i] as number) ** 2;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  const values = indices.map((i) => (buckets[i] as number) * scale);
  for (const i of touched) buckets[i] = 0;
  return { indices, values };
}
