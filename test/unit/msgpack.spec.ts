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

  it.each(VECTORS)('%s packs to the spec vector and back', (_label, make, hex) => {
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

  it('integers 64 to 127 are written as uint8, never as a positive fixint (those bytes are record references)', () => {
    const codec = msgpackCodec()!;
    for (const n of [64, 100, 127]) expect(codec.pack(n).toString('hex')).toBe(`cc${n.toString(16)}`);
    expect(codec.pack(63).toString('hex')).toBe('3f');
  });

  it('a payload keeps no record for the next one', () => {
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
