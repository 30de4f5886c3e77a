/**
 * Just enough PromQL reading for the deploy tests: which series names and which label matchers an
 * expression uses. Not a parser; it relies on metric names never being followed by "(" (functions
 * and aggregations are) and strips what cannot hold a metric name: strings, ranges, label lists.
 */

/** Words that are PromQL syntax, not series names. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
  'atan2',
]);

/** Strings become "" (a matcher value or a label_replace argument may hold anything). */
function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

export interface Selector {
  series: string;
  labels: string[];
}

/** Series selectors with label matchers: `name{a="x", b=~"y"}` -> {series: name, labels: [a, b]}. */
export function selectorsIn(expr: string): Selector[] {
  const out: Selector[] = [];
  for (const m of withoutStrings(expr).matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const labels = [...m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!);
    out.push({ series: m[1]!, labels });
  }
  return out;
}

/** Every series name the expression selects, in order of appearance, without repeats. */
export function seriesIn(expr: string): string[] {
  const s = withoutStrings(expr)
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    if (/^[0-9]/.test(word)) continue; // a number or a duration (offset 5m)
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (/^\s*\(/.test(s.slice(m.index + word.length))) continue; // a function or an aggregation
    names.add(word);
  }
  return [...names];
}
