import { checkFrameCount } from '../../lib/protocol/inbound';
import {
  decodeEnvelope,
  EMPTY,
  Encoding,
  encodeHeader,
  encodeMetadata,
  encodePattern,
  Flag,
  HEADER_FIXED_BYTES,
  MalformedError,
  MessageType,
  OutEnvelope,
} from '../../lib/protocol/frames';
import {
  MAX_ENVELOPES_PER_MESSAGE,
  MAX_HANDSHAKE_BYTES,
  MAX_METADATA_BYTES,
  MAX_PATTERN_BYTES,
} from '../../lib/protocol/limits';

const MAX = 1024;

/**
 * Builds a header byte by byte, independently of encodeHeader, so the tests
 * pin the wire layout rather than the encoder's idea of it.
 */
function rawHeader(spec: {
  version?: number;
  type: number;
  flags?: number;
  encoding?: number;
  id?: number;
  /** Pattern bytes; the length field is written from this unless `patternLen` says otherwise. */
  pattern?: Buffer | string;
  patternLen?: number;
  /** Bytes appended after the pattern (metadata section or garbage), verbatim. */
  tail?: Buffer;
}): Buffer {
  const pattern = typeof spec.pattern === 'string' ? Buffer.from(spec.pattern, 'utf8') : (spec.pattern ?? EMPTY);
  const fixed = Buffer.alloc(HEADER_FIXED_BYTES);
  fixed[0] = spec.version ?? 1;
  fixed[1] = spec.type;
  fixed[2] = spec.flags ?? 0;
  fixed[3] = spec.encoding ?? Encoding.None;
  fixed.writeUInt32BE(spec.id ?? 0, 4);
  fixed.writeUInt16BE(spec.patternLen ?? pattern.length, 8);
  return Buffer.concat([fixed, pattern, spec.tail ?? EMPTY]);
}

/** A metadata section: u16 length then the bytes. */
function metaSection(text: string, declaredLen?: number): Buffer {
  const body = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(declaredLen ?? body.length);
  return Buffer.concat([len, body]);
}

function out(partial: Partial<OutEnvelope> & { type: MessageType }): OutEnvelope {
  return {
    flags: 0,
    encoding: Encoding.None,
    id: 0,
    pattern: undefined,
    metadata: undefined,
    payload: EMPTY,
    ...partial,
  };
}

function decodeError(header: Buffer, payload: Buffer = EMPTY, max = MAX): MalformedError {
  try {
    decodeEnvelope(header, payload, max);
  } catch (err) {
    if (err instanceof MalformedError) return err;
    throw new Error(`expected a MalformedError, got ${String(err)}`);
  }
  throw new Error('expected decodeEnvelope to throw');
}

/** Small deterministic PRNG (mulberry32) so fuzz failures are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('header layout', () => {
  it('puts version, type, flags, encoding, id, pattern and metadata at the documented offsets', () => {
    const header = encodeHeader(
      out({
        type: MessageType.Request,
        encoding: Encoding.Json,
        id: 0x01020304,
        pattern: Buffer.from('sum'),
        metadata: Buffer.from('{"a":"b"}'),
      }),
    );
    expect([...header]).toEqual([
      1, // version
      3, // REQUEST
      0x02, // METADATA flag, set because a metadata section is present
      1, // JSON
      0x01,
      0x02,
      0x03,
      0x04, // id, big-endian
      0x00,
      0x03, // pattern length
      ...Buffer.from('sum'),
      0x00,
      0x09, // metadata length
      ...Buffer.from('{"a":"b"}'),
    ]);
  });

  it('uses the documented type numbers', () => {
    expect([
      MessageType.Hello,
      MessageType.Welcome,
      MessageType.Request,
      MessageType.Chunk,
      MessageType.End,
      MessageType.Error,
      MessageType.Event,
      MessageType.Cancel,
      MessageType.Ping,
      MessageType.Pong,
      MessageType.Bye,
    ]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect([Flag.End, Flag.Metadata]).toEqual([0x01, 0x02]);
    expect([Encoding.None, Encoding.Json, Encoding.Raw, Encoding.Text]).toEqual([0, 1, 2, 3]);
  });

  it('clears a stray METADATA flag when there is no metadata section, and keeps END', () => {
    const header = encodeHeader(out({ type: MessageType.Chunk, id: 9, flags: Flag.End | Flag.Metadata }));
    expect(header.length).toBe(HEADER_FIXED_BYTES);
    expect(header[2]).toBe(Flag.End);
  });

  it('writes the largest u32 id unsigned', () => {
    const header = encodeHeader(out({ type: MessageType.End, id: 0xffffffff }));
    expect(header.readUInt32BE(4)).toBe(0xffffffff);
    expect(decodeEnvelope(header, EMPTY, MAX).id).toBe(0xffffffff);
  });
});

describe('encode/decode round-trip', () => {
  const cases: Array<[string, OutEnvelope]> = [
    ['HELLO', out({ type: MessageType.Hello, encoding: Encoding.Json, payload: Buffer.from('{"version":1}') })],
    ['WELCOME', out({ type: MessageType.Welcome, encoding: Encoding.Json, payload: Buffer.from('{"patterns":[]}') })],
    [
      'REQUEST',
      out({
        type: MessageType.Request,
        id: 7,
        encoding: Encoding.Json,
        pattern: Buffer.from('sum'),
        payload: Buffer.from('[1,2]'),
      }),
    ],
    [
      'REQUEST with metadata',
      out({
        type: MessageType.Request,
        id: 8,
        encoding: Encoding.Raw,
        pattern: Buffer.from('{"cmd":"ü"}'),
        metadata: Buffer.from('{"trace":"abc","x-y":""}'),
        payload: Buffer.from([0, 1, 2, 255]),
      }),
    ],
    ['CHUNK', out({ type: MessageType.Chunk, id: 1, encoding: Encoding.Json, payload: Buffer.from('42') })],
    [
      'last CHUNK',
      out({ type: MessageType.Chunk, id: 2, flags: Flag.End, encoding: Encoding.Json, payload: Buffer.from('"x"') }),
    ],
    ['END', out({ type: MessageType.End, id: 3 })],
    [
      'ERROR',
      out({ type: MessageType.Error, id: 4, encoding: Encoding.Json, payload: Buffer.from('{"message":"no"}') }),
    ],
    [
      'connection ERROR (id 0)',
      out({ type: MessageType.Error, id: 0, encoding: Encoding.Json, payload: Buffer.from('{}') }),
    ],
    [
      'EVENT',
      out({
        type: MessageType.Event,
        encoding: Encoding.Json,
        pattern: Buffer.from('audit'),
        payload: Buffer.from('{}'),
      }),
    ],
    [
      'EVENT with metadata',
      out({
        type: MessageType.Event,
        encoding: Encoding.None,
        pattern: Buffer.from('audit'),
        metadata: Buffer.from('{}'),
      }),
    ],
    ['CANCEL', out({ type: MessageType.Cancel, id: 5 })],
    ['PING', out({ type: MessageType.Ping })],
    ['PONG', out({ type: MessageType.Pong })],
    ['BYE', out({ type: MessageType.Bye })],
  ];

  it.each(cases)('%s', (_name, env) => {
    const header = encodeHeader(env);
    const payload = Buffer.from(env.payload);
    const decoded = decodeEnvelope(header, payload, MAX);
    expect(decoded.type).toBe(env.type);
    expect(decoded.id).toBe(env.id);
    expect(decoded.encoding).toBe(env.encoding);
    expect(decoded.flags & Flag.End).toBe(env.flags & Flag.End);
    expect(Boolean(decoded.flags & Flag.Metadata)).toBe(env.metadata !== undefined);
    expect(decoded.pattern).toBe(env.pattern?.toString('utf8'));
    expect(decoded.metadata === undefined ? undefined : { ...decoded.metadata }).toEqual(
      env.metadata === undefined ? undefined : JSON.parse(env.metadata.toString('utf8')),
    );
    expect(decoded.payload.equals(payload)).toBe(true);
  });

  it('covers every message type', () => {
    const types = new Set(cases.map(([, env]) => env.type));
    expect(types.size).toBe(11);
  });
});

describe('malformed headers are rejected with a MalformedError naming the reason', () => {
  const ID = 0x0a0b0c0d;
  type Row = [name: string, header: Buffer, payload: Buffer, reason: string, id: number];
  const rows: Row[] = [
    ['empty header', EMPTY, EMPTY, 'header', 0],
    ['short header (9 bytes)', Buffer.alloc(9, 1), EMPTY, 'header', 0],
    // Of another version only bytes 0 and 1 are read (§3): the id is not known.
    ['unknown version 2', rawHeader({ version: 2, type: MessageType.End, id: ID }), EMPTY, 'version', 0],
    ['unknown version 0', rawHeader({ version: 0, type: MessageType.Ping }), EMPTY, 'version', 0],
    ['unknown version 255', rawHeader({ version: 255, type: MessageType.Ping }), EMPTY, 'version', 0],
    ['unknown type 0', rawHeader({ type: 0, id: ID }), EMPTY, 'type', ID],
    ['unknown type 12', rawHeader({ type: 12 }), EMPTY, 'type', 0],
    ['unknown type 255', rawHeader({ type: 255 }), EMPTY, 'type', 0],
    [
      'flag 0x04 (DEADLINE) on a CHUNK',
      rawHeader({ type: MessageType.Chunk, id: ID, flags: 0x04 }),
      EMPTY,
      'header',
      ID,
    ],
    ['unknown flag 0x08', rawHeader({ type: MessageType.Chunk, id: ID, flags: 0x08 }), EMPTY, 'header', ID],
    // The per-type rules of §3's table.
    ['an EVENT with a request id', rawHeader({ type: MessageType.Event, id: 5, pattern: 'p' }), EMPTY, 'header', 0],
    ['a PING with a request id', rawHeader({ type: MessageType.Ping, id: 5 }), EMPTY, 'header', 0],
    ['a PING with a payload', rawHeader({ type: MessageType.Ping, encoding: 1 }), Buffer.from('1'), 'header', 0],
    [
      'an END with a payload',
      rawHeader({ type: MessageType.End, id: ID, encoding: 1 }),
      Buffer.from('1'),
      'header',
      ID,
    ],
    [
      'a REQUEST with the END flag',
      rawHeader({ type: MessageType.Request, id: ID, flags: 0x01, pattern: 'p' }),
      EMPTY,
      'header',
      ID,
    ],
    ['unknown flag 0x80 beside END', rawHeader({ type: MessageType.Chunk, id: ID, flags: 0x81 }), EMPTY, 'header', ID],
    ['bad encoding 5', rawHeader({ type: MessageType.Chunk, id: ID, encoding: 5 }), Buffer.from('1'), 'header', ID],
    ['bad encoding 255', rawHeader({ type: MessageType.Ping, encoding: 255 }), EMPTY, 'header', 0],
    ['REQUEST without id', rawHeader({ type: MessageType.Request, pattern: 'p' }), EMPTY, 'header', 0],
    ['CHUNK without id', rawHeader({ type: MessageType.Chunk }), EMPTY, 'header', 0],
    ['END without id', rawHeader({ type: MessageType.End }), EMPTY, 'header', 0],
    ['CANCEL without id', rawHeader({ type: MessageType.Cancel }), EMPTY, 'header', 0],
    ['pattern on PING', rawHeader({ type: MessageType.Ping, pattern: 'x' }), EMPTY, 'header', 0],
    ['pattern on CHUNK', rawHeader({ type: MessageType.Chunk, id: ID, pattern: 'x' }), EMPTY, 'header', ID],
    [
      'pattern length on HELLO without bytes',
      rawHeader({ type: MessageType.Hello, patternLen: 4 }),
      EMPTY,
      'header',
      0,
    ],
    ['REQUEST with empty pattern', rawHeader({ type: MessageType.Request, id: ID }), EMPTY, 'header', ID],
    ['EVENT with empty pattern', rawHeader({ type: MessageType.Event }), EMPTY, 'header', 0],
    [
      'truncated pattern',
      rawHeader({ type: MessageType.Request, id: ID, pattern: 'abc', patternLen: 5 }),
      EMPTY,
      'header',
      ID,
    ],
    [
      'METADATA flag without a length',
      rawHeader({ type: MessageType.Request, id: ID, pattern: 'p', flags: Flag.Metadata }),
      EMPTY,
      'header',
      ID,
    ],
    [
      'METADATA flag with one length byte',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: Buffer.from([0]) }),
      EMPTY,
      'header',
      0,
    ],
    [
      'truncated metadata',
      rawHeader({
        type: MessageType.Request,
        id: ID,
        pattern: 'p',
        flags: Flag.Metadata,
        tail: metaSection('{"a"', 9),
      }),
      EMPTY,
      'header',
      ID,
    ],
    [
      'metadata that is not JSON',
      rawHeader({ type: MessageType.Request, id: ID, pattern: 'p', flags: Flag.Metadata, tail: metaSection('{a:b}') }),
      EMPTY,
      'metadata',
      ID,
    ],
    [
      'metadata that is invalid UTF-8',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: Buffer.from([0, 2, 0xc3, 0x28]) }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata array',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('["a"]') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata null',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('null') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata number',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('12') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata string',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('"a"') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata empty',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata number value',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('{"a":1}') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata null value',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('{"a":"b","c":null}') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata object value',
      rawHeader({ type: MessageType.Ping, flags: Flag.Metadata, tail: metaSection('{"a":{}}') }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'metadata "__proto__" object value',
      rawHeader({
        type: MessageType.Ping,
        flags: Flag.Metadata,
        tail: metaSection('{"__proto__":{"polluted":"yes"}}'),
      }),
      EMPTY,
      'metadata',
      0,
    ],
    [
      'trailing byte after fixed header',
      rawHeader({ type: MessageType.Ping, tail: Buffer.from([0]) }),
      EMPTY,
      'header',
      0,
    ],
    [
      'trailing bytes after pattern',
      rawHeader({ type: MessageType.Request, id: ID, pattern: 'p', tail: Buffer.from('xx') }),
      EMPTY,
      'header',
      ID,
    ],
    [
      'trailing bytes after metadata',
      rawHeader({
        type: MessageType.Ping,
        flags: Flag.Metadata,
        tail: Buffer.concat([metaSection('{}'), Buffer.from([1])]),
      }),
      EMPTY,
      'header',
      0,
    ],
    ['NONE with a non-empty payload', rawHeader({ type: MessageType.Chunk, id: ID }), Buffer.from('x'), 'payload', ID],
    [
      'oversized payload',
      rawHeader({ type: MessageType.Chunk, id: ID, encoding: Encoding.Raw }),
      Buffer.alloc(MAX + 1),
      'oversized',
      ID,
    ],
  ];

  it.each(rows)('[W-9] [W-10] [W-11] %s', (_name, header, payload, reason, id) => {
    const err = decodeError(header, payload);
    expect(err).toBeInstanceOf(MalformedError);
    expect(err).toBeInstanceOf(Error);
    expect(err.reason).toBe(reason);
    expect(err.id).toBe(id);
    expect(typeof err.message).toBe('string');
  });

  it('lets HELLO and WELCOME payloads use MAX_HANDSHAKE_BYTES even when maxPayload is smaller', () => {
    for (const type of [MessageType.Hello, MessageType.Welcome]) {
      const header = rawHeader({ type, encoding: Encoding.Json });
      expect(decodeEnvelope(header, Buffer.alloc(MAX + 1), MAX).payload.length).toBe(MAX + 1);
      expect(decodeEnvelope(header, Buffer.alloc(MAX_HANDSHAKE_BYTES), MAX).type).toBe(type);
      expect(decodeError(header, Buffer.alloc(MAX_HANDSHAKE_BYTES + 1)).reason).toBe('oversized');
    }
  });

  it('accepts a payload of exactly the limit', () => {
    const header = rawHeader({ type: MessageType.Chunk, id: 1, encoding: Encoding.Raw });
    expect(decodeEnvelope(header, Buffer.alloc(MAX), MAX).payload.length).toBe(MAX);
  });

  it('accepts an empty metadata object and a pattern of the largest size', () => {
    const pattern = Buffer.alloc(MAX_PATTERN_BYTES, 0x61);
    const env = decodeEnvelope(
      rawHeader({ type: MessageType.Event, pattern, flags: Flag.Metadata, tail: metaSection('{}') }),
      EMPTY,
      MAX,
    );
    expect(env.pattern).toBe(pattern.toString());
    expect(Object.keys(env.metadata!)).toEqual([]);
  });
});

describe('metadata keys cannot pollute prototypes', () => {
  it('keeps "__proto__" as an own key of a null-prototype object', () => {
    const env = decodeEnvelope(
      rawHeader({
        type: MessageType.Request,
        id: 1,
        pattern: 'p',
        flags: Flag.Metadata,
        tail: metaSection('{"__proto__":"x","constructor":"y","a":"b"}'),
      }),
      EMPTY,
      MAX,
    );
    const metadata = env.metadata!;
    expect(Object.getPrototypeOf(metadata)).toBeNull();
    expect(Object.prototype.hasOwnProperty.call(metadata, '__proto__')).toBe(true);
    expect(metadata['__proto__']).toBe('x');
    expect(metadata['constructor']).toBe('y');
    expect(Object.keys(metadata).sort()).toEqual(['__proto__', 'a', 'constructor']);
    const probe: Record<string, unknown> = {};
    expect(probe['a']).toBeUndefined();
    expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
    expect(typeof probe.constructor).toBe('function');
  });

  it('pollutes nothing when the "__proto__" value is an object', () => {
    decodeError(
      rawHeader({
        type: MessageType.Ping,
        flags: Flag.Metadata,
        tail: metaSection('{"__proto__":{"polluted":"yes"}}'),
      }),
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

describe('truncation and fuzzing never throw anything but MalformedError', () => {
  const full = rawHeader({
    type: MessageType.Request,
    flags: Flag.Metadata,
    encoding: Encoding.Json,
    id: 0x00010203,
    pattern: '{"cmd":"sum"}',
    tail: metaSection('{"k":"v","w":"ü"}'),
  });

  it('decodes the uncut header', () => {
    const env = decodeEnvelope(full, Buffer.from('[1]'), MAX);
    expect(env.pattern).toBe('{"cmd":"sum"}');
    expect({ ...env.metadata }).toEqual({ k: 'v', w: 'ü' });
  });

  it('rejects the header cut at every byte length', () => {
    let rejected = 0;
    for (let len = 0; len < full.length; len++) {
      const err = decodeError(full.subarray(0, len), Buffer.from('[1]'));
      expect(err).toBeInstanceOf(MalformedError);
      rejected++;
    }
    expect(rejected).toBe(full.length);
  });

  it('survives every single-byte corruption of a valid header', () => {
    for (let i = 0; i < full.length; i++) {
      for (const value of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
        const copy = Buffer.from(full);
        copy[i] = value;
        try {
          decodeEnvelope(copy, Buffer.from('[1]'), MAX);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedError);
        }
      }
    }
  });

  it('[W-24] survives random headers and payloads (seeded)', () => {
    const rand = prng(0xc0ffee);
    let decoded = 0;
    let rejected = 0;
    for (let n = 0; n < 3000; n++) {
      const len = Math.floor(rand() * 40);
      const header = Buffer.alloc(len);
      for (let i = 0; i < len; i++) header[i] = Math.floor(rand() * 256);
      // Bias the first bytes toward plausible values so the deeper checks run too.
      if (len > 0 && rand() < 0.7) header[0] = 1;
      if (len > 1 && rand() < 0.7) header[1] = 1 + Math.floor(rand() * 11);
      if (len > 2 && rand() < 0.5) header[2] = Math.floor(rand() * 4);
      if (len > 3 && rand() < 0.5) header[3] = Math.floor(rand() * 3);
      if (len > 9 && rand() < 0.5) header.writeUInt16BE(Math.floor(rand() * (len - 9)), 8);
      const payload = rand() < 0.5 ? EMPTY : Buffer.alloc(Math.floor(rand() * 8), 0x31);
      try {
        decodeEnvelope(header, payload, MAX);
        decoded++;
      } catch (err) {
        expect(err).toBeInstanceOf(MalformedError);
        rejected++;
      }
    }
    expect(decoded + rejected).toBe(3000);
    expect(rejected).toBeGreaterThan(0);
  });
});

describe('checkFrameCount', () => {
  const f = (n: number) => Array.from({ length: n }, () => EMPTY);

  it.each([
    [0, 0, false],
    [1, 0, false],
    [2, 0, true],
    [3, 0, false],
    [4, 0, true],
    [1, 1, false],
    [2, 1, false],
    [3, 1, true],
    [5, 1, true],
  ])('%i frames from offset %i → %s', (n, start, ok) => {
    expect(checkFrameCount(f(n), start)).toBe(ok);
  });

  it('accepts at most MAX_ENVELOPES_PER_MESSAGE envelopes', () => {
    expect(checkFrameCount(f(2 * MAX_ENVELOPES_PER_MESSAGE), 0)).toBe(true);
    expect(checkFrameCount(f(2 * MAX_ENVELOPES_PER_MESSAGE + 2), 0)).toBe(false);
    expect(checkFrameCount(f(2 * MAX_ENVELOPES_PER_MESSAGE + 1), 1)).toBe(true);
  });
});

describe('pattern and metadata encoders', () => {
  it('encode to UTF-8 and refuse sizes over the limits', () => {
    expect(encodePattern('ü').equals(Buffer.from([0xc3, 0xbc]))).toBe(true);
    expect(encodePattern('a'.repeat(MAX_PATTERN_BYTES)).length).toBe(MAX_PATTERN_BYTES);
    expect(() => encodePattern('a'.repeat(MAX_PATTERN_BYTES + 1))).toThrow(RangeError);
    expect(encodeMetadata({ a: 'b' }).toString()).toBe('{"a":"b"}');
    expect(() => encodeMetadata({ a: 'x'.repeat(MAX_METADATA_BYTES) })).toThrow(RangeError);
  });
});
