/**
 * A reader for the YAML subset the manifests in sample/deploy/ are written in
 * (no YAML package is a dependency): `---` between documents, `#` comments,
 * block maps (`key: value`, `key:` then a deeper block), block lists (`- x`,
 * `- key: value` continuing at the item's indent), and scalars: quoted strings,
 * integers, `true` / `false`, plain strings, and one-line flow lists of
 * scalars (`["node", "-r"]`). Anything else (anchors, multi-line strings,
 * flow maps, tabs) throws, naming the line: the manifests must stay in this subset.
 */

export type Yaml = string | number | boolean | Yaml[] | { [key: string]: Yaml };

interface Line {
  readonly indent: number;
  readonly text: string;
  readonly no: number;
}

/** Parses every document of `source`. */
export function parseYamlDocuments(source: string): Yaml[] {
  const docs: Line[][] = [[]];
  source.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new Error(`line ${i + 1}: tab`);
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '') return;
    if (text === '---') return void docs.push([]);
    docs[docs.length - 1]!.push({ indent: text.length - text.trimStart().length, text: text.trim(), no: i + 1 });
  });
  return docs.filter(d => d.length > 0).map(lines => new Reader(lines).block(lines[0]!.indent));
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || line[i - 1] === ' ')) return line.slice(0, i);
  }
  return line;
}

class Reader {
  private at = 0;
  constructor(private readonly lines: Line[]) {}

  /** The block whose lines start at `indent`. */
  block(indent: number): Yaml {
    const first = this.lines[this.at]!;
    if (first.indent !== indent) throw new Error(`line ${first.no}: bad indent`);
    return first.text.startsWith('- ') || first.text === '-' ? this.list(indent) : this.map(indent);
  }

  private list(indent: number): Yaml[] {
    const out: Yaml[] = [];
    while (this.at < this.lines.length && this.lines[this.at]!.indent === indent) {
      const line = this.lines[this.at]!;
      if (!line.text.startsWith('- ')) throw new Error(`line ${line.no}: expected a list item`);
      const rest = line.text.slice(2).trim();
      if (keyOf(rest) === undefined) {
        this.at++;
        out.push(scalar(rest, line.no));
        continue;
      }
      // `- key: value`: a map whose keys sit at the item's content indent.
      (this.lines as Line[])[this.at] = { indent: indent + 2, text: rest, no: line.no };
      out.push(this.map(indent + 2));
    }
    return out;
  }

  private map(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    while (this.at < this.lines.length && this.lines[this.at]!.indent === indent) {
      const line = this.lines[this.at]!;
      const key = keyOf(line.text);
      if (key === undefined) throw new Error(`line ${line.no}: expected "key: value"`);
      const value = line.text.slice(key.length + 1).trim();
      this.at++;
      if (value !== '') out[key] = scalar(value, line.no);
      else {
        const next = this.lines[this.at];
        if (next === undefined || next.indent < indent) throw new Error(`line ${line.no}: "${key}" has no value`);
        // A list may sit at the key's own indent (`key:` then `- item`), a map must be deeper.
        out[key] = this.block(next.text.startsWith('- ') ? next.indent : Math.max(next.indent, indent + 1));
      }
    }
    const next = this.lines[this.at];
    if (next !== undefined && next.indent > indent) throw new Error(`line ${next.no}: bad indent`);
    return out;
  }
}

/** The key of a `key: value` / `key:` line, or undefined. */
function keyOf(text: string): string | undefined {
  const m = /^([A-Za-z0-9_.\-/]+):(\s|$)/.exec(text);
  return m?.[1];
}

function scalar(text: string, no: number): Yaml {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw new Error(`line ${no}: unterminated flow list`);
    const inner = text.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map(part => scalar(part.trim(), no));
  }
  if (/^".*"$/.test(text) || /^'.*'$/.test(text)) return text.slice(1, -1);
  if (/^-?\d+$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (/^[&*!|>{]/.test(text)) throw new Error(`line ${no}: unsupported YAML "${text}"`);
  return text;
}
