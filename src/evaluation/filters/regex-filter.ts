/**
 * lm-eval's RegexFilter: `findall` the pattern in a response; take the match at `groupSelect` (Python indexing, so
 * −1 is the last); a match with several groups is a tuple, of which the first non-empty group is kept; nothing found
 * gives the fallback "[invalid]". The kept text is stripped.
 */
export interface RegexFilterSpec {
  /** The pattern, written for JavaScript (lm-eval's patterns use no Python-only syntax). */
  readonly pattern: RegExp;
  readonly groupSelect: number;
  readonly fallback?: string;
}

export const INVALID = '[invalid]';

/** Python's re.findall: whole matches without groups, the group with one, tuples of groups with several. */
export function findAll(pattern: RegExp, text: string): (string | string[])[] {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  return [...text.matchAll(global)].map((match) => {
    const groups = match.slice(1).map((group) => group ?? '');
    if (groups.length === 0) return match[0];
    return groups.length === 1 ? groups[0]! : groups;
  });
}

export function applyRegexFilter(response: string, spec: RegexFilterSpec): string {
  const fallback = spec.fallback ?? INVALID;
  const matches = findAll(spec.pattern, response);
  if (matches.length === 0) return fallback;
  const index = spec.groupSelect < 0 ? matches.length + spec.groupSelect : spec.groupSelect;
  let selected: string | string[] | undefined = matches[index];
  if (selected === undefined) return fallback; // Python would raise IndexError; lm-eval never selects past the end
  if (Array.isArray(selected)) {
    const nonEmpty = selected.filter((group) => group !== '');
    selected = nonEmpty.length > 0 ? nonEmpty[0]! : fallback;
  }
  return selected.trim();
}
