/**
 * Keeps docs/PROTOCOL.md §13 (Conformance) honest:
 *
 * - 13.2: the table of rules is what test/conformance/spec-table.ts generates
 *   from the test titles (`[S-12] …`), and every MUST rule has a test.
 * - 13.3: every vector is exactly what lib/protocol/'s constructors encode,
 *   and decodeEnvelope (after unpackMessage, for the BATCH) reads back the
 *   fields this file expects.
 */
import { readFileSync } from 'node:fs';
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
import { challengeEnvelope, handshakeEnvelope, refusalEnvelope } from '../../lib/protocol/handshake';
import { checkTable, idsOfTitle, rulesOf } from '../conformance/spec-table';
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

// ---------------------------------------------------------------- 13.2

describe('13.2 Rules and their tests', () => {
  it('defines rules with ids W-n, S-n and C-n, each once', () => {
    const ids = rulesOf(doc).map(r => r.id);
    expect(ids.length).toBeGreaterThan(50);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('reads the rule ids at the start of a test title only', () => {
    expect(idsOfTitle('[S-12] [W-3] a title')).toEqual(['S-12', 'W-3']);
    expect(idsOfTitle('a title about [S-12]')).toEqual([]);
  });

  it('has a test naming every MUST rule, and no test naming a rule the spec lacks', () => {
    expect(checkTable(root).problems).toEqual([]);
  });

  it('holds the table generated from the tests (npm run spec:conformance writes it)', () => {
    const { doc: current, fresh } = checkTable(root);
    expect(current === fresh).toBe(true);
  });
});

// ---------------------------------------------------------------- 13.3

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
  const text = section(conformance(), /^### 13\.3 .*$/m, 3);
  const out = new Map<string, DocVector>();
  const headings = [...text.matchAll(/^#### 13\.3\.(\d+) (.+)$/gm)];
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
  CHALLENGE: {
    encode: () => frames(challengeEnvelope('AAECAwQFBgcICQoLDA0ODxAREhMUFRYX')),
    decoded: [
      {
        type: MessageType.Challenge,
        flags: 0,
        encoding: Encoding.Json,
        id: 0,
        value: { nonce: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYX' },
      },
    ],
  },
  'CHUNK in MSGPACK': {
    encode: () => frames(dataEnvelope(MessageType.Chunk, 4, { a: 1 }, MAX, Flag.End, undefined, undefined, true)),
    decoded: [{ type: MessageType.Chunk, flags: Flag.End, encoding: Encoding.Msgpack, id: 4, value: { a: 1 } }],
  },
};

describe('13.3 Test vectors', () => {
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
