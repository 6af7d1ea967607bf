/**
 * Encoding 4, MSGPACK (docs/PROTOCOL.md §3.2): the spec's test vectors, the
 * codec install, and the `features` list of the handshake (§4.5).
 */
import { loadMsgpack } from '../../lib/common/msgpack-loader';
import { decodePayload, encodeWirePayload } from '../../lib/protocol/codec';
import { Encoding, MalformedError } from '../../lib/protocol/frames';
import { hasFeature, validateHello, validateWelcome } from '../../lib/protocol/handshake';
import { msgpackCodec } from '../../lib/protocol/msgpack';

// The table of docs/PROTOCOL.md §3.2, verbatim.
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
];

describe('before the codec is installed', () => {
  it('a MSGPACK payload is undecodable, and encoding as MSGPACK fails', () => {
    expect(msgpackCodec()).toBeUndefined();
    expect(() => decodePayload(Encoding.Msgpack, Buffer.from('d4724091a16101', 'hex'), 9)).toThrow(
      expect.objectContaining({ reason: 'payload', id: 9 }),
    );
    expect(() => decodePayload(Encoding.Msgpack, Buffer.alloc(1), 9)).toThrow(MalformedError);
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
    expect(() => decodePayload(Encoding.Msgpack, Buffer.from(hex, 'hex'), 3)).toThrow(
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
