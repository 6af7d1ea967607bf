import { MAX_HANDSHAKE_BYTES, PROTOCOL_VERSION } from '../../lib/protocol/limits';
import { MessageType } from '../../lib/protocol/frames';
import { decodeEnvelope, encodeHeader } from '../../lib/protocol/frames';
import {
  asRefusal,
  checkHandshakeMetadata,
  handshakeEnvelope,
  peekForeignVersion,
  validateHello,
  validateWelcome,
} from '../../lib/protocol/handshake';
import { ZmqMessageTooLargeError } from '../../lib/errors/zmq.errors';

const hb = { interval: 1000, liveness: 3 };
const hello = { version: 1, id: 'client-1', metadata: { role: 'test' }, heartbeat: hb };

describe('validateHello', () => {
  it('accepts a complete hello and copies only the known fields', () => {
    expect(validateHello({ ...hello, extra: 'ignored' })).toEqual(hello);
  });

  it('defaults missing metadata to an empty object', () => {
    const { metadata: _m, ...rest } = hello;
    expect(validateHello(rest)).toEqual({ ...rest, metadata: {} });
  });

  it('passes a foreign version through for the caller to refuse', () => {
    expect(validateHello({ ...hello, version: 2 })).toMatchObject({ version: 2 });
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', [hello]],
    ['a string', 'hello'],
    ['no id', { ...hello, id: undefined }],
    ['an empty id', { ...hello, id: '' }],
    ['a numeric id', { ...hello, id: 7 }],
    ['an id of 257 characters', { ...hello, id: 'x'.repeat(257) }],
    ['no version', { ...hello, version: undefined }],
    ['a string version', { ...hello, version: '1' }],
    ['array metadata', { ...hello, metadata: ['a'] }],
    ['string metadata', { ...hello, metadata: 'a' }],
    ['null metadata', { ...hello, metadata: null }],
    ['no heartbeat', { ...hello, heartbeat: undefined }],
    ['a zero interval', { ...hello, heartbeat: { interval: 0, liveness: 3 } }],
    ['a negative liveness', { ...hello, heartbeat: { interval: 1, liveness: -1 } }],
    ['an infinite interval', { ...hello, heartbeat: { interval: Infinity, liveness: 3 } }],
    ['a NaN liveness', { ...hello, heartbeat: { interval: 1, liveness: NaN } }],
    ['a string interval', { ...hello, heartbeat: { interval: '1000', liveness: 3 } }],
  ])('rejects %s with a reason string', (_name, value) => {
    const result = validateHello(value);
    expect(typeof result).toBe('string');
    expect(result).toMatch(/hello/);
  });

  it('accepts an id of exactly 256 characters', () => {
    expect(validateHello({ ...hello, id: 'x'.repeat(256) })).toMatchObject({ id: 'x'.repeat(256) });
  });
});

describe('validateWelcome', () => {
  const welcome = { ...hello, id: 'server-1', patterns: ['sum', '{"cmd":"x"}'], events: ['audit'] };

  it('accepts a complete welcome', () => {
    expect(validateWelcome(welcome)).toEqual(welcome);
  });

  it.each<[string, unknown]>([
    ['no patterns', { ...welcome, patterns: undefined }],
    ['no events', { ...welcome, events: undefined }],
    ['non-string patterns', { ...welcome, patterns: ['a', 1] }],
    ['object events', { ...welcome, events: { a: 'b' } }],
  ])('rejects %s', (_name, value) => {
    expect(validateWelcome(value)).toBe('welcome patterns are invalid');
  });

  it('names the welcome, not the hello, in the reasons it shares with validateHello', () => {
    const reason = validateWelcome({ ...welcome, heartbeat: null });
    expect(typeof reason).toBe('string');
    expect(reason).toMatch(/^welcome /);
  });
});

describe('asRefusal', () => {
  it('reads code, message and version', () => {
    expect(asRefusal({ status: 'error', code: 'VERSION_MISMATCH', message: 'no', version: 2 })).toEqual({
      status: 'error',
      code: 'VERSION_MISMATCH',
      message: 'no',
      version: 2,
    });
  });

  it('defaults a missing or non-numeric version to 0', () => {
    expect(asRefusal({ code: 'X', message: 'm' })?.version).toBe(0);
    expect(asRefusal({ code: 'X', message: 'm', version: 'abc' })?.version).toBe(0);
  });

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['a string', 'refused'],
    ['an array', []],
    ['no code', { message: 'm' }],
    ['a numeric code', { code: 1, message: 'm' }],
    ['no message', { code: 'X' }],
  ])('returns undefined for %s', (_name, value) => {
    expect(asRefusal(value)).toBeUndefined();
  });
});

describe('peekForeignVersion', () => {
  const header = (version: number, type: number) => Buffer.from([version, type, 0, 1, 0, 0, 0, 0, 0, 0]);

  it('reports the version of a HELLO or ERROR of another protocol version', () => {
    expect(peekForeignVersion(header(2, MessageType.Hello), MessageType.Hello)).toBe(2);
    expect(peekForeignVersion(header(0, MessageType.Error), MessageType.Error)).toBe(0);
    expect(peekForeignVersion(Buffer.from([7, MessageType.Hello]), MessageType.Hello)).toBe(7);
  });

  it('ignores our own version, other types and frames shorter than two bytes', () => {
    expect(peekForeignVersion(header(PROTOCOL_VERSION, MessageType.Hello), MessageType.Hello)).toBeUndefined();
    expect(peekForeignVersion(header(2, MessageType.Request), MessageType.Hello)).toBeUndefined();
    expect(peekForeignVersion(header(2, MessageType.Hello), MessageType.Error)).toBeUndefined();
    expect(peekForeignVersion(Buffer.from([2]), MessageType.Hello)).toBeUndefined();
    expect(peekForeignVersion(Buffer.alloc(0), MessageType.Hello)).toBeUndefined();
  });
});

describe('the handshake size limit', () => {
  // A hello whose JSON payload is exactly `bytes` long.
  const helloOf = (bytes: number) => {
    const base = JSON.stringify({ ...hello, metadata: { pad: '' } }).length;
    return { ...hello, metadata: { pad: 'x'.repeat(bytes - base) } };
  };

  it('is MAX_HANDSHAKE_BYTES for a sender: one byte more is TOO_LARGE', () => {
    const env = handshakeEnvelope(MessageType.Hello, helloOf(MAX_HANDSHAKE_BYTES));
    expect(Buffer.byteLength(env.payload as string)).toBe(MAX_HANDSHAKE_BYTES);
    expect(() => handshakeEnvelope(MessageType.Hello, helloOf(MAX_HANDSHAKE_BYTES + 1))).toThrow(
      ZmqMessageTooLargeError,
    );
  });

  it('is MAX_HANDSHAKE_BYTES for a receiver, whatever its payload limit (larger or smaller)', () => {
    for (const maxPayload of [1024, 64 * 1024 * 1024]) {
      const ok = handshakeEnvelope(MessageType.Hello, helloOf(MAX_HANDSHAKE_BYTES));
      const payload = Buffer.from(ok.payload as string);
      expect(decodeEnvelope(encodeHeader(ok), payload, maxPayload).type).toBe(MessageType.Hello);
      const big = Buffer.concat([payload, Buffer.from(' ')]);
      expect(() => decodeEnvelope(encodeHeader(ok), big, maxPayload)).toThrow(
        expect.objectContaining({ reason: 'oversized' }),
      );
    }
  });

  it('rejects metadata that cannot fit a handshake before anything is sent', () => {
    expect(() => checkHandshakeMetadata({ pad: 'x'.repeat(MAX_HANDSHAKE_BYTES) }, 'client')).toThrow(
      ZmqMessageTooLargeError,
    );
    expect(() => checkHandshakeMetadata({ pad: 'x'.repeat(1000) }, 'client')).not.toThrow();
  });
});
