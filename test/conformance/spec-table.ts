/**
 * The conformance table of docs/PROTOCOL.md §13.2, generated from the tests:
 * every rule the spec defines (`- **S-12** …`), whether it says MUST, how many
 * test titles name it (`'[S-12] …'`), and whether the conformance kit checks
 * it over the wire (its checks are defined with `id: 'S-12'`).
 *
 *   npm run spec:conformance           # writes the table into docs/PROTOCOL.md
 *   npm run spec:conformance -- --check  # exits 1 when the table is stale or a MUST rule has no test
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Rule {
  id: string;
  /** The strongest key word of its text: MUST (MUST NOT included), SHOULD, MAY, or none. */
  level: 'MUST' | 'SHOULD' | 'MAY' | '–';
}

const BEGIN = '<!-- conformance-table:begin -->';
const END = '<!-- conformance-table:end -->';
const RULE_ID = /^[WSC]-\d+$/;

/** The rules docs/PROTOCOL.md defines, in document order: each `- **X-n**` item with the text up to the next item. */
export function rulesOf(doc: string): Rule[] {
  const out: Rule[] = [];
  const items = doc.split(/\n(?=- |\n|#)/);
  for (const item of items) {
    const m = /^- \*\*([WSC]-\d+)\*\* ([\s\S]*)$/.exec(item);
    if (m === null) continue;
    const text = m[2]!;
    const level = /\bMUST\b/.test(text)
      ? 'MUST'
      : /\bSHOULD\b/.test(text)
        ? 'SHOULD'
        : /\bMAY\b/.test(text)
          ? 'MAY'
          : '–';
    out.push({ id: m[1]!, level });
  }
  return out;
}

function files(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(path, suffix));
    else if (entry.name.endsWith(suffix)) out.push(path);
  }
  return out.sort();
}

/** The rule ids at the start of a test title: `[S-12] [W-3] text` names S-12 and W-3. */
export function idsOfTitle(title: string): string[] {
  const lead = /^((?:\[[WSC]-\d+\]\s*)+)/.exec(title);
  return lead === null ? [] : [...lead[1]!.matchAll(/\[([WSC]-\d+)\]/g)].map(m => m[1]!);
}

/** Test titles naming each rule: every string literal in a spec file that starts with `[X-n]`. */
export function testsByRule(root: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const file of files(join(root, 'test'), '.spec.ts')) {
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(['"`])(\[[WSC]-\d+\](?:(?!\1)[^\\\n]|\\.)*)\1/g)) {
      for (const id of idsOfTitle(m[2]!)) {
        const list = out.get(id) ?? [];
        list.push(`${relative(root, file)}: ${m[2]!}`);
        out.set(id, list);
      }
    }
  }
  return out;
}

/** The rules the kit checks, by side: the `id: 'X-n'` of its check definitions. */
export function kitChecks(root: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [side, file] of [
    ['server', 'handshake-checks.ts'],
    ['server', 'proof-checks.ts'],
    ['server', 'input-checks.ts'],
    ['server', 'call-checks.ts'],
    ['server', 'close-checks.ts'],
    ['client', 'client-checks.ts'],
  ] as const) {
    let source = '';
    try {
      source = readFileSync(join(root, 'lib', 'conformance', file), 'utf8');
    } catch {
      continue;
    }
    for (const m of source.matchAll(/\bid: '([WSC]-\d+)'/g)) {
      const sides = out.get(m[1]!) ?? [];
      if (!sides.includes(side)) sides.push(side);
      out.set(m[1]!, sides);
    }
  }
  return out;
}

/** The markdown table for `rules`. */
export function renderTable(rules: Rule[], tests: Map<string, string[]>, kit: Map<string, string[]>): string {
  const rows = rules.map(
    r => `| ${r.id} | ${r.level} | ${tests.get(r.id)?.length ?? 0} | ${kit.get(r.id)?.join(', ') ?? '–'} |`,
  );
  return ['| rule | level | tests | kit |', '|---|---|---|---|', ...rows].join('\n');
}

/** `doc` with the table between its markers replaced by `table`. */
export function withTable(doc: string, table: string): string {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`docs/PROTOCOL.md has no ${BEGIN} … ${END} markers`);
  return `${doc.slice(0, begin + BEGIN.length)}\n${table}\n${doc.slice(end)}`;
}

export interface TableCheck {
  doc: string;
  /** The document with a fresh table. */
  fresh: string;
  /** Problems: a MUST rule with no test, a title naming a rule the spec lacks, a duplicate rule id. */
  problems: string[];
}

export function checkTable(root: string): TableCheck {
  const doc = readFileSync(join(root, 'docs', 'PROTOCOL.md'), 'utf8');
  const rules = rulesOf(doc);
  const tests = testsByRule(root);
  const kit = kitChecks(root);
  const problems: string[] = [];
  const known = new Set<string>();
  for (const r of rules) {
    if (known.has(r.id)) problems.push(`${r.id} is defined twice`);
    known.add(r.id);
    if (r.level === 'MUST' && !tests.has(r.id)) problems.push(`${r.id} (MUST) has no test naming it`);
  }
  for (const [id, titles] of tests) {
    if (!known.has(id)) problems.push(`${titles[0]} names ${id}, which the spec does not define`);
  }
  for (const id of kit.keys())
    if (!known.has(id) || !RULE_ID.test(id)) problems.push(`the kit checks ${id}, undefined`);
  return { doc, fresh: withTable(doc, renderTable(rules, tests, kit)), problems };
}

function main(): void {
  const root = join(__dirname, '..', '..');
  const { doc, fresh, problems } = checkTable(root);
  for (const p of problems) process.stderr.write(`${p}\n`);
  if (process.argv.includes('--check')) {
    if (fresh !== doc) process.stderr.write('docs/PROTOCOL.md §13.2 is stale: run npm run spec:conformance\n');
    process.exitCode = fresh !== doc || problems.length > 0 ? 1 : 0;
    return;
  }
  if (fresh !== doc) writeFileSync(join(root, 'docs', 'PROTOCOL.md'), fresh);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

// Run as a script (CommonJS under ts-register); imported by Jest (ESM), it only exports.
if (typeof require !== 'undefined' && require.main === module) main();
