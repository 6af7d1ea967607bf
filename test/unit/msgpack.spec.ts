/**
 * Encoding 4, MSGPACK (docs/PROTOCOL.md §3.2): the spec's test vectors, the
 * codec install, and the `features` list of the handshake (§4.5).
 */
import { loadMsgpack } from '../../lib/common/msgpack-loader';
import { decodePayload, encodeWirePayload } from '../../lib/protocol/codec';
import { Encoding, MalformedError } from '../../lib/protocol/frames';
import { hasFeature, validateHello, validateWelcome } from '../../lib/protocol/handshake';
import { msgpackCodec } from '../../lib/protocol/msgpack';
import { runTsChild } from '../helpers/child';

// The table of docs/PROTOCOL.md §3.2, verbatim, but for its typed arrays (TYPED_VECTORS below).
const VECTORS: Array<[string, () => unknown, string]> = [
  ['{"a":1}', () => ({ a: 1 }), 'd4724091a16101'],
  ['[1,"x",null,true]', () => [1, 'x', null, true], '9401a178c0c3'],
  ['new Date(0)', () => new Date(0), 'd6ff00000000'],
  ['new Map([[1,"a"]])', () => new Map([[1, 'a']]), '8101a161'],
  ['new Set(["x"])', () => new Set(['x']), 'd4730091a178'],
  ['7n', () => 7n, 'd30000000000000007'],
  ['2n ** 70n', () => 2n ** 70n, 'd84200000000000000400000000000000000'],
  ['Buffer [1,2]', () => Buffer.from([1, 2]), 'c4020102'],
  [
    '{ when: new Date(0), tags: new Set([1]) }',
    () => ({ when: new Date(0), tags: new Set([1]) }),
    'd4724092a47768656ea474616773d6ff00000000d473009101',
  ],
  ['[undefined]', () => [undefined], '91d40000'],
  ['new TypeError("x")', () => new TypeError('x'), 'd4650093a9547970654572726f72a178d40000'],
  ['/a/g', () => /a/g, 'd4780092a161a167'],
];

// The typed-array rows of that table: checked in a plain Node child (test/fixtures/msgpack-vectors.ts).
const TYPED_VECTORS: Record<string, { hex: string; back: string; elements: number[] }> = {
  'new Float64Array([1.5])': { hex: 'c7097408000000000000f83f', back: 'Float64Array', elements: [1.5] },
  'new Int16Array([1])': { hex: 'c70374030100', back: 'Int16Array', elements: [1] },
  'new Uint8Array([1])': { hex: 'c702740101', back: 'Uint8Array', elements: [1] },
};

/** The extension types of §3.2's table: undefined, timestamp, record, set, error, typed array, regexp, bigint. */
const LISTED_EXTENSIONS = [0x00, -1, 0x72, 0x73, 0x65, 0x74, 0x78, 0x42];

/**
 * Walks one MessagePack value (as §3.2 writes it: records included) and
 * returns the extension types it uses; throws on a byte it cannot place and
 * when the value does not end exactly at the end of the payload.
 */
function extensionsOf(buf: Buffer): number[] {
  const types: number[] = [];
  const records = new Map<number, number>(); // slot -> number of fields
  let o = 0;
  const values = (n: number) => {
    for (let i = 0; i < n; i++) value();
  };
  const arrayLength = (): number => {
    const b = buf[o++]!;
    if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
    if (b === 0xdc) return ((o += 2), buf.readUInt16BE(o - 2));
    throw new Error(`byte 0x${b.toString(16)} at ${o - 1} is not an array header`);
  };
  const skip = (n: number) => void (o += n);
  function value(): void {
    const b = buf[o++]!;
    if (b <= 0x3f || b >= 0xe0) return; // fixint below the record slots, negative fixint
    if (b <= 0x7f) {
      const fields = records.get(b);
      if (fields === undefined) throw new Error(`record slot 0x${b.toString(16)} used before it is defined`);
      return values(fields);
    }
    if (b <= 0x8f) return values(2 * (b & 0x0f));
    if (b <= 0x9f) return values(b & 0x0f);
    if (b <= 0xbf) return skip(b & 0x1f);
    if ([0xc0, 0xc2, 0xc3].includes(b)) return;
    if (b === 0xc4 || b === 0xd9) return skip(1 + buf[o]!);
    if (b === 0xc5 || b === 0xda) return skip(2 + buf.readUInt16BE(o));
    if (b === 0xc6 || b === 0xdb) return skip(4 + buf.readUInt32BE(o));
    if (b >= 0xc7 && b <= 0xc9) {
      const lengthBytes = [1, 2, 4][b - 0xc7]!;
      const length = buf.readUIntBE(o, lengthBytes);
      types.push(buf.readInt8(o + lengthBytes));
      return skip(lengthBytes + 1 + length);
    }
    const fixed: Record<number, number> = { 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8 };
    Object.assign(fixed, { 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8 });
    if (fixed[b] !== undefined) return skip(fixed[b]);
    if (b >= 0xd4 && b <= 0xd8) {
      const type = buf.readInt8(o);
      types.push(type);
      if (type === 0x72 && b === 0xd4) {
        const slot = buf[o + 1]!;
        skip(2);
        const fields = arrayLength();
        values(fields); // the field names
        records.set(slot, fields);
        return values(fields);
      }
      skip(1 + (1 << (b - 0xd4)));
      if ([0x73, 0x65, 0x78].includes(type)) value(); // followed by an array
      return;
    }
    if (b === 0xdc) return values(buf.readUInt16BE((o += 2) - 2));
    if (b === 0xde) return values(2 * buf.readUInt16BE((o += 2) - 2));
    throw new Error(`byte 0x${b.toString(16)} at ${o - 1}`);
  }
  value();
  if (o !== buf.length) throw new Error(`the value ends at ${o} of ${buf.length}`);
  return types;
}

describe('before the codec is installed', () => {
  it('a MSGPACK payload is undecodable, and encoding as MSGPACK fails', () => {
    expect(msgpackCodec()).toBeUndefined();
    expect(() => decodePayload(Encoding.Msgpack, Buffer.from('d4724091a16101', 'hex'), 9, true)).toThrow(
      expect.objectContaining({ reason: 'payload', id: 9 }),
    );
    expect(() => decodePayload(Encoding.Msgpack, Buffer.alloc(1), 9, true)).toThrow(MalformedError);
    expect(() => encodeWirePayload({ a: 1 }, true)).toThrow(/not loaded/);
  });
});

describe('MSGPACK (encoding 4)', () => {
  beforeAll(() => loadMsgpack());

  it.each(VECTORS)('[W-16] %s packs to the spec vector and back', (_label, make, hex) => {
    const codec = msgpackCodec()!;
    expect(codec.pack(make()).toString('hex')).toBe(hex);
    expect(codec.unpack(Buffer.from(hex, 'hex'))).toEqual(make());
  });

  it('an Error and a RegExp unpack to their class, with their fields; an invalid Date is d4ffff', () => {
    const codec = msgpackCodec()!;
    expect(codec.pack(new Date(NaN)).toString('hex')).toBe('d4ffff');
    const invalid = codec.unpack(Buffer.from('d4ffff', 'hex')) as Date;
    expect([invalid.constructor.name, Number.isNaN(invalid.getTime())]).toEqual(['Date', true]);
    const err = codec.unpack(Buffer.from('d4650093a9547970654572726f72a178d40000', 'hex')) as Error;
    expect(err.constructor.name).toBe('TypeError');
    expect([err.name, err.message]).toEqual(['TypeError', 'x']);
    const custom = codec.unpack(Buffer.from('d4650093a44f6f7073a161c0', 'hex')) as Error;
    expect([custom.constructor.name, custom.name, custom.message]).toEqual(['Error', 'Oops', 'a']);
    const re = codec.unpack(Buffer.from('d4780092a161a167', 'hex')) as RegExp;
    expect([re.constructor.name, re.source, re.flags]).toEqual(['RegExp', 'a', 'g']);
  });

  it('typed arrays pack to the spec vectors and back (checked in a plain Node child: Jest has another realm)', async () => {
    const result = await runTsChild('test/fixtures/msgpack-vectors.ts');
    expect(result.stderr).toBe('');
    const line = result.stdout.split('\n').find(l => l.startsWith('RESULT '));
    expect(JSON.parse(line!.slice('RESULT '.length))).toEqual(TYPED_VECTORS);
    expect(result.code).toBe(0);
  });

  it('a MSGPACK payload on a session that did not agree on msgpack is undecodable, though the codec is loaded', () => {
    const bytes = Buffer.from('d4724091a16101', 'hex');
    expect(decodePayload(Encoding.Msgpack, bytes, 5, true)).toEqual({ a: 1 });
    expect(() => decodePayload(Encoding.Msgpack, bytes, 5)).toThrow(
      expect.objectContaining({ reason: 'payload', id: 5 }),
    );
  });

  it('[W-16] the writer uses only the extensions of the table, whatever the value', () => {
    const codec = msgpackCodec()!;
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const everything = {
      nothing: undefined,
      nil: null,
      yes: true,
      ints: [0, 63, 64, 127, 128, 255, 65_535, 2 ** 31, -1, -33, -129, -(2 ** 31)],
      floats: [1.5, -0.25, Number.MAX_VALUE, NaN, Infinity],
      text: ['', 'x', 'ü'.repeat(40), 'y'.repeat(300)],
      bytes: Buffer.from([1, 2, 3]),
      dates: [new Date(0), new Date(Date.UTC(2026, 11, 1, 12, 30, 0, 5)), new Date(-1e15), new Date(NaN)],
      map: new Map<unknown, unknown>([
        [1, 'a'],
        [{ k: 1 }, new Set([1, 'x'])],
      ]),
      set: new Set([{ a: 1 }, { a: 2 }]),
      errors: [new Error('e'), new TypeError('t'), Object.assign(new RangeError('r'), { cause: 'c' })],
      regexps: [/a/g, /b+/imsu],
      bigints: [7n, -7n, 2n ** 63n, 2n ** 70n, -(2n ** 70n)],
      instance: new Point(1, 2),
      fn: () => 1,
      nested: { list: [{ a: 1 }, { a: 2, b: [undefined, null] }], deep: { deeper: { deepest: [new Map()] } } },
    };
    const types = extensionsOf(codec.pack(everything));
    expect(types.filter(t => !LISTED_EXTENSIONS.includes(t))).toEqual([]);
    expect(new Set(types)).toEqual(new Set([0x00, -1, 0x72, 0x73, 0x65, 0x78, 0x42]));
  });

  it('[W-17] integers 64 to 127 are written as uint8, never as a positive fixint (those bytes are record references)', () => {
    const codec = msgpackCodec()!;
    for (const n of [64, 100, 127]) expect(codec.pack(n).toString('hex')).toBe(`cc${n.toString(16)}`);
    expect(codec.pack(63).toString('hex')).toBe('3f');
  });

  it('[W-18] a payload keeps no record for the next one', () => {
    const codec = msgpackCodec()!;
    const first = codec.pack({ a: 1 });
    const second = codec.pack({ a: 2 });
    expect(second.subarray(0, 3).toString('hex')).toBe(first.subarray(0, 3).toString('hex')); // defined again
    expect(codec.unpack(second)).toEqual({ a: 2 });
  });

  it('encodeWirePayload uses MSGPACK for what would be JSON, and keeps TEXT, RAW and NONE', () => {
    expect(encodeWirePayload({ a: 1 }, true).encoding).toBe(Encoding.Msgpack);
    expect(encodeWirePayload(5, true).encoding).toBe(Encoding.Msgpack);
    expect(encodeWirePayload('text', true).encoding).toBe(Encoding.Text);
    expect(encodeWirePayload(Buffer.from('x'), true).encoding).toBe(Encoding.Raw);
    expect(encodeWirePayload(undefined, true).encoding).toBe(Encoding.None);
    expect(encodeWirePayload({ a: 1 }).encoding).toBe(Encoding.Json);
  });

  it.each([
    ['truncated', '92'],
    ['trailing bytes after the value', '0101'],
    ['a truncated extension', 'd472'],
  ])('a %s payload is a payload error, not a crash', (_why, hex) => {
    expect(() => decodePayload(Encoding.Msgpack, Buffer.from(hex, 'hex'), 3, true)).toThrow(
      expect.objectContaining({ reason: 'payload', id: 3 }),
    );
  });
});

describe('handshake features (§4.5)', () => {
  const hello = { version: 1, id: 'c', metadata: {}, heartbeat: { interval: 1000, liveness: 3 } };

  it('are optional, copied when valid, and found by hasFeature', () => {
    expect(validateHello(hello)).not.toHaveProperty('features');
    const withFeatures = validateHello({ ...hello, features: ['msgpack', 'future-thing'] });
    expect(withFeatures).toMatchObject({ features: ['msgpack', 'future-thing'] });
    expect(hasFeature(withFeatures as never, 'msgpack')).toBe(true);
    expect(hasFeature(validateHello(hello) as never, 'msgpack')).toBe(false);
    expect(validateWelcome({ ...hello, patterns: [], events: [], features: ['msgpack'] })).toMatchObject({
      features: ['msgpack'],
    });
  });

  it.each([
    ['not an array', 'msgpack'],
    ['a non-string', [1]],
    ['an empty name', ['']],
    ['a name over 64 characters', ['x'.repeat(65)]],
    ['more than 32 names', Array.from({ length: 33 }, (_, i) => `f${i}`)],
  ])('make a hello invalid when %s', (_why, features) => {
    expect(typeof validateHello({ ...hello, features })).toBe('string');
  });
});
