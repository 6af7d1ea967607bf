import { decodePayload, encodeErrorPayload } from '../../lib/protocol/codec';
import { encodePayload } from '../helpers/codec';
import { ZmqMessageTooLargeError } from '../../lib/errors/zmq.errors';
import { dataEnvelope } from '../../lib/protocol/envelopes';
import { Encoding, MalformedError, MessageType } from '../../lib/protocol/frames';

function errorJson(err: unknown): unknown {
  const encoded = encodeErrorPayload(err);
  expect(encoded.encoding).toBe(Encoding.Json);
  return JSON.parse(encoded.bytes.toString('utf8'));
}

describe('encodePayload / decodePayload', () => {
  it('sends undefined as NONE with an empty frame', () => {
    const encoded = encodePayload(undefined);
    expect(encoded.encoding).toBe(Encoding.None);
    expect(encoded.bytes.length).toBe(0);
    expect(decodePayload(encoded.encoding, encoded.bytes)).toBeUndefined();
  });

  it('sends a Buffer as RAW without copying it', () => {
    const buf = Buffer.from([0, 1, 2, 0xff]);
    const encoded = encodePayload(buf);
    expect(encoded.encoding).toBe(Encoding.Raw);
    expect(encoded.bytes).toBe(buf);
    const decoded = decodePayload(Encoding.Raw, encoded.bytes) as Buffer;
    expect(Buffer.isBuffer(decoded)).toBe(true);
    expect(decoded.equals(buf)).toBe(true);
  });

  it('sends a Uint8Array view as RAW, with only the bytes of the view', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const view = backing.subarray(2, 5);
    const encoded = encodePayload(view);
    expect(encoded.encoding).toBe(Encoding.Raw);
    expect([...encoded.bytes]).toEqual([1, 2, 3]);
    expect(encoded.bytes.buffer).toBe(backing.buffer);
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['zero', 0],
    ['negative float', -1.5],
    ['false', false],
    ['array', [1, 'two', null, { three: 3 }]],
    ['nested object', { a: { b: { c: [1, 2, { d: 'e' }] } } }],
    ['object with a "__proto__" key', JSON.parse('{"__proto__":{"x":1},"y":2}')],
  ])('round-trips %s as JSON', (_name, value) => {
    const encoded = encodePayload(value);
    expect(encoded.encoding).toBe(Encoding.Json);
    expect(decodePayload(encoded.encoding, encoded.bytes)).toEqual(value);
  });

  it.each<[string, string]>([
    ['empty string', ''],
    ['ASCII string', 'a "quoted" \\ line\n'],
    ['unicode string', 'ü ✓ 𝄞'],
  ])('sends %s as TEXT: its UTF-8 bytes, no JSON', (_name, value) => {
    const encoded = encodePayload(value);
    expect(encoded.encoding).toBe(Encoding.Text);
    expect(encoded.bytes).toEqual(Buffer.from(value, 'utf8'));
    expect(decodePayload(encoded.encoding, encoded.bytes)).toBe(value);
  });

  it('sends a string with a lone surrogate as JSON, which keeps it', () => {
    const value = 'a\ud800b';
    const encoded = encodePayload(value);
    expect(encoded.encoding).toBe(Encoding.Json);
    expect(decodePayload(encoded.encoding, encoded.bytes)).toBe(value);
  });

  it('rejects a TEXT payload that is not valid UTF-8', () => {
    expect(() => decodePayload(Encoding.Text, Buffer.from([0x61, 0xff]), 4)).toThrow(
      expect.objectContaining({ reason: 'payload', id: 4 }) as MalformedError,
    );
  });

  it('keeps a "__proto__" key of a JSON payload an own key and pollutes nothing', () => {
    const decoded = decodePayload(Encoding.Json, Buffer.from('{"__proto__":{"polluted":true}}')) as Record<
      string,
      unknown
    >;
    expect(Object.prototype.hasOwnProperty.call(decoded, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('sends a Date as its ISO string (JSON semantics)', () => {
    const date = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
    const encoded = encodePayload(date);
    expect(decodePayload(encoded.encoding, encoded.bytes)).toBe('2024-01-02T03:04:05.000Z');
  });

  it('sends functions and symbols as "no value"', () => {
    expect(encodePayload(() => 1).encoding).toBe(Encoding.None);
    expect(encodePayload(Symbol('s')).encoding).toBe(Encoding.None);
    expect(encodePayload(() => 1).bytes.length).toBe(0);
  });

  it('drops function-valued properties of objects', () => {
    const encoded = encodePayload({ a: 1, f: () => 2 });
    expect(decodePayload(encoded.encoding, encoded.bytes)).toEqual({ a: 1 });
  });

  it('throws what JSON.stringify throws for BigInt and cycles', () => {
    expect(() => encodePayload(10n)).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodePayload(cyclic)).toThrow(TypeError);
  });

  it.each<[string, Buffer]>([
    ['truncated JSON', Buffer.from('{"a":')],
    ['plain text', Buffer.from('hello')],
    ['empty frame', Buffer.alloc(0)],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe])],
  ])('rejects %s with MalformedError "payload" carrying the id', (_name, bytes) => {
    let caught: unknown;
    try {
      decodePayload(Encoding.Json, bytes, 42);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MalformedError);
    expect((caught as MalformedError).reason).toBe('payload');
    expect((caught as MalformedError).id).toBe(42);
  });

  it('ignores the bytes for NONE and returns them as-is for RAW', () => {
    expect(decodePayload(Encoding.None, Buffer.from('x'))).toBeUndefined();
    const bytes = Buffer.from('not json');
    expect(decodePayload(Encoding.Raw, bytes)).toBe(bytes);
  });
});

describe('encodeErrorPayload never throws', () => {
  it('keeps name, message and extra own fields of an Error', () => {
    const err = Object.assign(new TypeError('bad input'), { code: 'E_BAD', details: { field: 'x' }, status: 'error' });
    expect(errorJson(err)).toEqual({
      name: 'TypeError',
      message: 'bad input',
      code: 'E_BAD',
      details: { field: 'x' },
      status: 'error',
    });
  });

  it('passes plain objects (Nest RpcException payloads) through', () => {
    expect(errorJson({ status: 'error', code: 'E_X', message: 'm' })).toEqual({
      status: 'error',
      code: 'E_X',
      message: 'm',
    });
  });

  it('passes strings, numbers and null through', () => {
    expect(errorJson('just a string')).toBe('just a string');
    expect(errorJson(404)).toBe(404);
    expect(errorJson(null)).toBeNull();
  });

  it('turns undefined into an error object', () => {
    expect(errorJson(undefined)).toEqual({ status: 'error', message: 'Unknown error' });
  });

  it('degrades a circular object to its string form', () => {
    const cyclic: Record<string, unknown> = { message: 'loop' };
    cyclic.self = cyclic;
    expect(errorJson(cyclic)).toEqual({ status: 'error', message: '[object Object]' });
  });

  it('degrades an Error with a circular field to its message', () => {
    const err = new Error('has a cycle') as Error & { ctx?: unknown };
    const ctx: Record<string, unknown> = {};
    ctx.ctx = ctx;
    err.ctx = ctx;
    expect(errorJson(err)).toEqual({ status: 'error', message: 'has a cycle' });
  });

  it('degrades BigInt values and fields', () => {
    expect(errorJson(10n)).toEqual({ status: 'error', message: '10' });
    expect(errorJson(Object.assign(new Error('big'), { n: 1n }))).toEqual({ status: 'error', message: 'big' });
    expect(errorJson({ n: 1n })).toEqual({ status: 'error', message: '[object Object]' });
  });

  it('degrades functions and symbols (which JSON.stringify turns into undefined)', () => {
    expect(errorJson(() => 1)).toEqual({ status: 'error', message: expect.any(String) });
    expect(errorJson(Symbol('s'))).toEqual({ status: 'error', message: 'Symbol(s)' });
  });

  it('survives values whose string conversion throws', () => {
    const noProto = Object.create(null) as Record<string, unknown>;
    noProto.self = noProto;
    expect(errorJson(noProto)).toEqual({ status: 'error', message: 'Unserializable error' });
    const hostile = {
      toJSON() {
        throw new Error('toJSON');
      },
      toString() {
        throw new Error('toString');
      },
    };
    expect(errorJson(hostile)).toEqual({ status: 'error', message: 'Unserializable error' });
  });

  it('survives an Error whose own field is a throwing getter', () => {
    const err = new Error('getter');
    Object.defineProperty(err, 'boom', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    expect(errorJson(err)).toEqual({ status: 'error', message: 'getter' });
  });

  it('survives an Error whose message was replaced by a BigInt or a throwing getter', () => {
    const big = new Error('x') as unknown as { message: unknown };
    big.message = 5n;
    expect(errorJson(big)).toEqual({ status: 'error', message: '5' });
    const hostile = new Error('x');
    Object.defineProperty(hostile, 'message', {
      get() {
        throw new Error('no');
      },
    });
    expect(errorJson(hostile)).toEqual({ status: 'error', message: 'Unserializable error' });
  });
});

describe('dataEnvelope keeps text as a string and checks its UTF-8 size', () => {
  it('passes a text of exactly maxPayload UTF-8 bytes and rejects one byte more', () => {
    const text = 'ü'.repeat(5); // 10 bytes in UTF-8
    const env = dataEnvelope(MessageType.Chunk, 1, text, 10);
    expect(env.encoding).toBe(Encoding.Text);
    expect(env.payload).toBe(text);
    expect(() => dataEnvelope(MessageType.Chunk, 1, `${text}a`, 10)).toThrow(ZmqMessageTooLargeError);
  });

  it('keeps JSON as its text', () => {
    expect(dataEnvelope(MessageType.Chunk, 1, { a: 1 }, 100).payload).toBe('{"a":1}');
  });
});
