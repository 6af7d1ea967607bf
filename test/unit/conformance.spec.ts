/**
 * Keeps docs/PROTOCOL.md §13 (Conformance) honest:
 *
 * - 13.1: the rows are numbered C1, C2, … without a gap, one for each MUST /
 *   MUST NOT of §1 up to §13, in document order and under the section it
 *   stands in; every test a row names exists, with each of its titles (and
 *   the `it.each` rows it names).
 * - 13.2: every vector is exactly what lib/protocol/'s constructors encode,
 *   and decodeEnvelope (after unpackMessage, for the BATCH) reads back the
 *   fields this file expects.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMsgpack } from '../../lib/common/msgpack-loader';
import { appendEnvelopeFrames, unpackMessage } from '../../lib/protocol/batch';
import { RequestEncoder } from '../../lib/protocol/client/requests';
import { decodePayload } from '../../lib/protocol/codec';
import { BYE, controlEnvelope, dataEnvelope, errorEnvelope, PING, PONG } from '../../lib/protocol/envelopes';
import {
  decodeEnvelope,
  Encoding,
  encodeHeader,
  encodeMetadata,
  encodePattern,
  Flag,
  MessageType,
  Metadata,
  OutEnvelope,
} from '../../lib/protocol/frames';
import { handshakeEnvelope, refusalEnvelope } from '../../lib/protocol/handshake';
import { repoRoot } from '../helpers/child';

const MAX = 1 << 20;

let root: string;
let doc: string;

beforeAll(async () => {
  root = repoRoot();
  doc = readFileSync(join(root, 'docs', 'PROTOCOL.md'), 'utf8');
  await loadMsgpack(); // the MSGPACK vector
});

/** The text from the line that matches `start` up to the next heading of level `level` or higher (or the end). */
function section(text: string, start: RegExp, level: number): string {
  const m = start.exec(text);
  if (m === null) throw new Error(`no heading ${String(start)} in docs/PROTOCOL.md`);
  const rest = text.slice(m.index + m[0].length);
  const end = new RegExp(`^#{1,${level}} `, 'm').exec(rest);
  return m[0] + (end === null ? rest : rest.slice(0, end.index));
}

const conformance = () => section(doc, /^## 13\. Conformance$/m, 2);

// ---------------------------------------------------------------- 13.1

interface TestRef {
  file: string;
  titles: string[];
  rows: string[];
}

interface Requirement {
  num: string;
  section: string;
  text: string;
  tests: TestRef[];
}

/** `test/x.spec.ts` › "describe" › "it" (rows "a", "b") */
function parseRef(ref: string): TestRef {
  const m = /^`([^`]+)` › (.+)$/.exec(ref.trim());
  if (m === null) throw new Error(`not a test reference: ${ref}`);
  let rest = m[2]!;
  let rows: string[] = [];
  const rowsMatch = / \(rows ("[^"]*"(?:, "[^"]*")*)\)$/.exec(rest);
  if (rowsMatch !== null) {
    rows = [...rowsMatch[1]!.matchAll(/"([^"]*)"/g)].map(r => r[1]!);
    rest = rest.slice(0, rowsMatch.index);
  }
  const titles = rest.split(' › ').map(t => {
    if (!/^".+"$/.test(t)) throw new Error(`a title is not in double quotes: ${t} (in ${ref})`);
    return t.slice(1, -1);
  });
  return { file: m[1]!, titles, rows };
}

function requirements(): Requirement[] {
  const table = section(conformance(), /^### 13\.1 .*$/m, 3);
  return table
    .split('\n')
    .filter(line => /^\| C\d+ \|/.test(line))
    .map(line => {
      const cells = line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map(c => c.trim());
      if (cells.length !== 4) throw new Error(`a row of 13.1 has ${cells.length} cells: ${line}`);
      const [num, sec, text, tests] = cells as [string, string, string, string];
      return { num, section: sec, text, tests: tests.split('<br>').map(parseRef) };
    });
}

/** The section (§n or §n.m) of each MUST / MUST NOT from §1 up to §13, in document order. */
function mustSections(): string[] {
  const body = doc.slice(doc.search(/^## 1\. /m), doc.search(/^## 13\. /m));
  const out: string[] = [];
  let current = '';
  for (const line of body.split('\n')) {
    const heading = /^#{2,3} (\d+(?:\.\d+)?)\.? /.exec(line);
    if (heading !== null) current = `§${heading[1]}`;
    for (const _ of line.matchAll(/\bMUST\b/g)) out.push(current);
  }
  return out;
}

/** How a title can stand in a spec file: a '…', "…" or `…` string literal. */
function literals(text: string): string[] {
  return [`'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`, `"${text.replace(/"/g, '\\"')}"`, `\`${text}\``];
}

describe('13.1 Requirements', () => {
  it('numbers the rows C1, C2, … without a gap', () => {
    const nums = requirements().map(r => r.num);
    expect(nums.length).toBeGreaterThan(0);
    expect(nums).toEqual(nums.map((_, i) => `C${i + 1}`));
  });

  it('has one row for each MUST / MUST NOT before §13, in document order, under its section', () => {
    // A MUST added to §1–§12 without its row here (or a row without its MUST) fails this.
    expect(requirements().map(r => r.section)).toEqual(mustSections());
  });

  it('states each requirement in its own words and names at least one test', () => {
    for (const r of requirements()) {
      expect(r.text.length).toBeGreaterThan(10);
      expect(r.text).not.toMatch(/\bMUST\b/);
      expect(r.tests.length).toBeGreaterThan(0);
    }
  });

  it('names only test files that exist, each holding the titles (and it.each rows) named', () => {
    const missing: string[] = [];
    for (const r of requirements()) {
      for (const ref of r.tests) {
        expect(ref.file).toMatch(/^test\/.+\.spec\.ts$/);
        const path = join(root, ref.file);
        if (!existsSync(path)) {
          missing.push(`${r.num}: no file ${ref.file}`);
          continue;
        }
        const source = readFileSync(path, 'utf8');
        for (const text of [...ref.titles, ...ref.rows]) {
          if (!literals(text).some(l => source.includes(l))) missing.push(`${r.num}: ${ref.file} has no "${text}"`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

// ---------------------------------------------------------------- 13.2

interface DocVector {
  header: string;
  payload: string;
}

/** The hex of one `header:` or `payload:` line and its indented continuation lines; `(empty)` is no bytes. */
function hexOf(lines: string[], key: string, name: string): string {
  const start = lines.findIndex(l => l.startsWith(`${key}:`));
  if (start < 0) throw new Error(`vector ${name} has no ${key}: line`);
  const parts = [lines[start]!.slice(key.length + 1)];
  for (let i = start + 1; i < lines.length && /^\s/.test(lines[i]!); i++) parts.push(lines[i]!);
  const tokens = parts.join(' ').trim().split(/\s+/);
  if (tokens.length === 1 && tokens[0] === '(empty)') return '';
  for (const t of tokens)
    if (!/^[0-9a-f]{2}$/.test(t)) throw new Error(`vector ${name}: "${t}" is not a lowercase hex byte`);
  return tokens.join('');
}

function docVectors(): Map<string, DocVector> {
  const text = section(conformance(), /^### 13\.2 .*$/m, 3);
  const out = new Map<string, DocVector>();
  const headings = [...text.matchAll(/^#### 13\.2\.(\d+) (.+)$/gm)];
  headings.forEach((h, i) => {
    const body = text.slice(h.index + h[0].length, headings[i + 1]?.index ?? text.length);
    const block = /^```\n([\s\S]*?)^```$/m.exec(body);
    if (block === null) throw new Error(`vector ${h[2]} has no fenced block`);
    const lines = block[1]!.split('\n');
    out.set(h[2]!, { header: hexOf(lines, 'header', h[2]!), payload: hexOf(lines, 'payload', h[2]!) });
  });
  return out;
}

/** What decodeEnvelope (and decodePayload) reads from one envelope. */
interface Decoded {
  type: MessageType;
  flags: number;
  encoding: Encoding;
  id: number;
  pattern?: string;
  metadata?: Metadata;
  deadline?: number;
  value: unknown;
}

interface Vector {
  /** The frames lib encodes: header, payload. */
  encode: () => Buffer[];
  /** The envelopes a receiver gets from them, in order. */
  decoded: Decoded[];
}

function frames(env: OutEnvelope): Buffer[] {
  return [encodeHeader(env), typeof env.payload === 'string' ? Buffer.from(env.payload, 'utf8') : env.payload];
}

const HEARTBEAT = { interval: 1000, liveness: 3 };
const requests = new RequestEncoder(MAX, undefined);
const chunk2 = () => dataEnvelope(MessageType.Chunk, 2, 0, MAX);
const end2 = () => controlEnvelope(MessageType.End, 2);
const none = (type: MessageType, id = 0): Decoded => ({
  type,
  flags: 0,
  encoding: Encoding.None,
  id,
  value: undefined,
});

const hello = { version: 1, id: 'c1', metadata: {}, heartbeat: HEARTBEAT, features: ['bye-ack'] };
const welcome = {
  version: 1,
  id: 's1',
  metadata: {},
  heartbeat: HEARTBEAT,
  patterns: ['sum'],
  events: [] as string[],
  features: ['bye-ack'],
};

const VECTORS: Record<string, Vector> = {
  HELLO: {
    encode: () => frames(handshakeEnvelope(MessageType.Hello, hello)),
    decoded: [{ type: MessageType.Hello, flags: 0, encoding: Encoding.Json, id: 0, value: hello }],
  },
  WELCOME: {
    encode: () => frames(handshakeEnvelope(MessageType.Welcome, welcome)),
    decoded: [{ type: MessageType.Welcome, flags: 0, encoding: Encoding.Json, id: 0, value: welcome }],
  },
  REQUEST: {
    encode: () => frames(requests.request(1, 'sum', [1, 2, 3], undefined, false, undefined)),
    decoded: [
      { type: MessageType.Request, flags: 0, encoding: Encoding.Json, id: 1, pattern: 'sum', value: [1, 2, 3] },
    ],
  },
  'REQUEST with METADATA and DEADLINE': {
    encode: () => frames(requests.request(2, 'sum', [1], encodeMetadata({ trace: 'ab' }), false, 5000)),
    decoded: [
      {
        type: MessageType.Request,
        flags: Flag.Metadata | Flag.Deadline,
        encoding: Encoding.Json,
        id: 2,
        pattern: 'sum',
        metadata: { trace: 'ab' },
        deadline: 5000,
        value: [1],
      },
    ],
  },
  CHUNK: {
    encode: () => frames(chunk2()),
    decoded: [{ type: MessageType.Chunk, flags: 0, encoding: Encoding.Json, id: 2, value: 0 }],
  },
  'CHUNK with END': {
    encode: () => frames(dataEnvelope(MessageType.Chunk, 1, 6, MAX, Flag.End)),
    decoded: [{ type: MessageType.Chunk, flags: Flag.End, encoding: Encoding.Json, id: 1, value: 6 }],
  },
  END: { encode: () => frames(end2()), decoded: [none(MessageType.End, 2)] },
  ERROR: {
    encode: () => frames(errorEnvelope(3, { status: 'error', message: 'boom' })),
    decoded: [
      {
        type: MessageType.Error,
        flags: 0,
        encoding: Encoding.Json,
        id: 3,
        value: { status: 'error', message: 'boom' },
      },
    ],
  },
  'ERROR(0)': {
    encode: () => frames(refusalEnvelope('NOT_READY', 'no session')),
    decoded: [
      {
        type: MessageType.Error,
        flags: 0,
        encoding: Encoding.Json,
        id: 0,
        value: { status: 'error', code: 'NOT_READY', message: 'no session', version: 1 },
      },
    ],
  },
  EVENT: {
    encode: () => frames(dataEnvelope(MessageType.Event, 0, 'hi', MAX, 0, encodePattern('audit'))),
    decoded: [{ type: MessageType.Event, flags: 0, encoding: Encoding.Text, id: 0, pattern: 'audit', value: 'hi' }],
  },
  CANCEL: { encode: () => frames(controlEnvelope(MessageType.Cancel, 2)), decoded: [none(MessageType.Cancel, 2)] },
  PING: { encode: () => frames(PING), decoded: [none(MessageType.Ping)] },
  PONG: { encode: () => frames(PONG), decoded: [none(MessageType.Pong)] },
  BYE: { encode: () => frames(BYE), decoded: [none(MessageType.Bye)] },
  'BATCH of two envelopes': {
    encode: () => {
      const out: Array<Buffer | string> = [];
      appendEnvelopeFrames([chunk2(), end2()], out);
      return out.map(f => Buffer.from(f as Buffer));
    },
    decoded: [
      { type: MessageType.Chunk, flags: 0, encoding: Encoding.Json, id: 2, value: 0 },
      none(MessageType.End, 2),
    ],
  },
  'CHUNK in MSGPACK': {
    encode: () => frames(dataEnvelope(MessageType.Chunk, 4, { a: 1 }, MAX, Flag.End, undefined, undefined, true)),
    decoded: [{ type: MessageType.Chunk, flags: Flag.End, encoding: Encoding.Msgpack, id: 4, value: { a: 1 } }],
  },
};

describe('13.2 Test vectors', () => {
  it('has a vector of every kind this file checks, and no other', () => {
    expect([...docVectors().keys()].sort()).toEqual(Object.keys(VECTORS).sort());
  });

  it.each(Object.keys(VECTORS))('%s is what lib encodes', name => {
    const documented = docVectors().get(name)!;
    expect(VECTORS[name]!.encode().map(f => f.toString('hex'))).toEqual([documented.header, documented.payload]);
  });

  it.each(Object.keys(VECTORS))('%s decodes to the fields described', name => {
    const documented = docVectors().get(name)!;
    const message = [Buffer.from(documented.header, 'hex'), Buffer.from(documented.payload, 'hex')];
    const pairs = unpackMessage(message, 0);
    const decoded: Decoded[] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const env = decodeEnvelope(pairs[i]!, pairs[i + 1]!, MAX);
      decoded.push({
        type: env.type,
        flags: env.flags,
        encoding: env.encoding,
        id: env.id,
        ...(env.pattern !== undefined ? { pattern: env.pattern } : {}),
        ...(env.metadata !== undefined ? { metadata: { ...env.metadata } } : {}),
        ...(env.deadline !== undefined ? { deadline: env.deadline } : {}),
        value: decodePayload(env.encoding, env.payload, env.id, true), // the MSGPACK vector: a session that agreed
      });
    }
    expect(decoded).toEqual(VECTORS[name]!.decoded);
  });
});
