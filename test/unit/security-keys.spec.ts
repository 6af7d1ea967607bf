/**
 * CURVE keys: Z85, key pairs compatible with libzmq's, and the
 * `curve` / `allow` options checked at construction, naming the option.
 */
import { curveKeyPair } from 'zeromq';
import { ClientZmq, generateCurveKeyPair, ServerZmq, ZmqErrorCode, ZmqOptionsError } from 'nestjs-zeromq';
import { checkCurveKey, isCurveKey, publicKeyOf } from '../../lib/security/keys';
import { decodeZ85, encodeZ85 } from '../../lib/security/z85';

const pair = generateCurveKeyPair();
const other = generateCurveKeyPair();

function optionError(fn: () => unknown): ZmqOptionsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ZmqOptionsError) return err;
    throw err;
  }
  throw new Error('expected a ZmqOptionsError');
}

describe('Z85', () => {
  test("RFC 32's test vector", () => {
    const bytes = Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    expect(encodeZ85(bytes)).toBe('HelloWorld');
    expect(decodeZ85('HelloWorld')).toEqual(bytes);
  });

  test('rejects a length not a multiple of 5, a character outside the alphabet, a group above 2^32', () => {
    expect(decodeZ85('Hello')).toBeDefined();
    expect(decodeZ85('Hell')).toBeUndefined();
    expect(decodeZ85('Hell~')).toBeUndefined();
    expect(decodeZ85('#####')).toBeUndefined();
  });
});

describe('key pairs', () => {
  test('generateCurveKeyPair() makes 40-character Z85 keys whose public key is that of the secret key', () => {
    expect(pair.publicKey).toHaveLength(40);
    expect(pair.secretKey).toHaveLength(40);
    expect(isCurveKey(pair.publicKey) && isCurveKey(pair.secretKey)).toBe(true);
    expect(publicKeyOf(pair.secretKey)).toBe(pair.publicKey);
    expect(pair.publicKey).not.toBe(other.publicKey);
  });

  test("libzmq's own pairs (zeromq.curveKeyPair) are the same keys", () => {
    const zmqPair = curveKeyPair();
    expect(publicKeyOf(zmqPair.secretKey)).toBe(zmqPair.publicKey);
  });

  test('a malformed key names the option', () => {
    expect(optionError(() => checkCurveKey('short', 'curve.serverKey')).option).toBe('curve.serverKey');
    expect(optionError(() => checkCurveKey(42, 'x')).message).toMatch(/40 characters of Z85 \(got number\)/);
  });
});

describe('server options', () => {
  const bind = 'tcp://127.0.0.1:*';

  test('"curve" without "allow" is an error, and so is "allow" without "curve"', () => {
    const noAllow = optionError(() => new ServerZmq({ bind, curve: pair }));
    expect(noAllow.option).toBe('allow');
    expect(noAllow.code).toBe(ZmqErrorCode.INVALID_OPTIONS);
    expect(noAllow.message).toMatch(/'\*'/);
    const noCurve = optionError(() => new ServerZmq({ bind, allow: '*' }));
    expect(noCurve.option).toBe('allow');
    expect(noCurve.message).toMatch(/needs "curve"/);
  });

  test.each([
    [
      'a malformed public key',
      { curve: { publicKey: 'nope', secretKey: pair.secretKey }, allow: '*' },
      'curve.publicKey',
    ],
    [
      'a secret key of 41 characters',
      { curve: { publicKey: pair.publicKey, secretKey: `${pair.secretKey}x` }, allow: '*' },
      'curve.secretKey',
    ],
    [
      'a public key of another pair',
      { curve: { publicKey: other.publicKey, secretKey: pair.secretKey }, allow: '*' },
      'curve.publicKey',
    ],
    ['an unknown curve key', { curve: { ...pair, serverKey: pair.publicKey }, allow: '*' }, 'curve.serverKey'],
    ['curve as a string', { curve: 'key', allow: '*' }, 'curve'],
    ['a malformed key in the allow list', { curve: pair, allow: [other.publicKey, 'bad'] }, 'allow'],
    ['allow as a word', { curve: pair, allow: 'everyone' }, 'allow'],
  ])('%s is an error naming its option', (_label, options, option) => {
    const err = optionError(() => new ServerZmq({ bind, ...(options as object) }));
    expect(err.option).toBe(option);
  });

  test('CURVE on an inproc endpoint is an error: libzmq secures no inproc connection', () => {
    const err = optionError(
      () => new ServerZmq({ bind: ['tcp://127.0.0.1:*', 'inproc://x'], curve: pair, allow: '*' }),
    );
    expect(err.option).toBe('bind');
    expect(err.message).toMatch(/inproc, which libzmq never secures/);
    const client = optionError(() => new ClientZmq({ connect: 'inproc://x', curve: { serverKey: pair.publicKey } }));
    expect(client.option).toBe('connect');
    expect(() => new ServerZmq({ bind: 'inproc://x' })).not.toThrow();
  });

  test('valid options construct, and setAllow() checks its argument too', () => {
    const server = new ServerZmq({ bind, curve: pair, allow: [other.publicKey] });
    expect(() => server.setAllow('*')).not.toThrow();
    expect(optionError(() => server.setAllow(['x'])).option).toBe('setAllow');
    expect(optionError(() => new ServerZmq({ bind }).setAllow('*')).option).toBe('allow');
  });
});

describe('client options', () => {
  const a = 'tcp://127.0.0.1:4001';
  const b = 'tcp://127.0.0.1:4002';

  test.each([
    ['a malformed serverKey', { connect: a, curve: { serverKey: 'bad' } }, 'curve.serverKey'],
    [
      'a serverKey map missing an endpoint',
      { connect: [a, b], curve: { serverKey: { [a]: pair.publicKey } } },
      'curve.serverKey',
    ],
    [
      'a serverKey map naming an endpoint not connected',
      { connect: a, curve: { serverKey: { [a]: pair.publicKey, [b]: pair.publicKey } } },
      'curve.serverKey',
    ],
    ['a malformed key in the map', { connect: a, curve: { serverKey: { [a]: 'bad' } } }, `curve.serverKey["${a}"]`],
    [
      'a public key without its secret key',
      { connect: a, curve: { serverKey: pair.publicKey, publicKey: other.publicKey } },
      'curve.secretKey',
    ],
    [
      'a pair that does not belong together',
      { connect: a, curve: { serverKey: pair.publicKey, ...other, publicKey: pair.publicKey } },
      'curve.publicKey',
    ],
    ['an unknown curve key', { connect: a, curve: { serverKey: pair.publicKey, server: true } }, 'curve.server'],
  ])('%s is an error naming its option', (_label, options, option) => {
    expect(optionError(() => new ClientZmq(options as never)).option).toBe(option);
  });

  test('one key, a map per endpoint, or no client pair (a fresh one is made)', () => {
    expect(() => new ClientZmq({ connect: [a, b], curve: { serverKey: pair.publicKey } })).not.toThrow();
    expect(
      () => new ClientZmq({ connect: [a, b], curve: { serverKey: { [a]: pair.publicKey, [b]: other.publicKey } } }),
    ).not.toThrow();
    expect(() => new ClientZmq({ connect: a, curve: { serverKey: pair.publicKey, ...other } })).not.toThrow();
  });
});
