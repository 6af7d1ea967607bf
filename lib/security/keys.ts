import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { decodeZ85, encodeZ85 } from './z85.js';

/** A CURVE key pair as Z85 strings of 40 characters (32 bytes each). */
export interface CurveKeyPair {
  publicKey: string;
  secretKey: string;
}

/** Length of a CURVE key in Z85 characters. */
export const CURVE_KEY_LENGTH = 40;

/** DER prefix of a PKCS#8 X25519 private key; the 32 raw bytes follow. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** DER prefix of an SPKI X25519 public key; the 32 raw bytes follow. */
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * A fresh CURVE key pair (Curve25519, as libzmq's `zmq_curve_keypair`), as
 * Z85 strings. The secret key stays secret: give the public key to peers.
 *
 * ```ts
 * const { publicKey, secretKey } = generateCurveKeyPair();
 * ```
 */
export function generateCurveKeyPair(): CurveKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const secret = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_X25519.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length);
  return { publicKey: encodeZ85(pub), secretKey: encodeZ85(secret) };
}

/** The 32 bytes of a Z85 CURVE key; `undefined` when `key` is not one. */
export function curveKeyBytes(key: unknown): Buffer | undefined {
  if (typeof key !== 'string' || key.length !== CURVE_KEY_LENGTH) return undefined;
  return decodeZ85(key);
}

/**
 * Curve25519 public keys (little-endian u-coordinates, bit 255 clear) of
 * small order: X25519 with any of them gives the all-zero secret, which
 * proves nothing. libsodium refuses the same points.
 */
const LOW_ORDER_POINTS: readonly Buffer[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(hex => Buffer.from(hex, 'hex'));

/**
 * Why the 32 bytes of a peer's public key cannot identify it, or
 * `undefined` when they can. X25519 ignores bit 255 and reduces a
 * coordinate modulo p = 2^255 - 19, so one key has several byte forms: only
 * the canonical one (bit 255 clear, below p) is accepted, so that an
 * allow-list decision about a key is a decision about every form of it.
 * Low-order points are refused: they give the all-zero shared secret.
 */
export function peerKeyProblem(bytes: Buffer): string | undefined {
  if (bytes.length !== 32) return 'not 32 bytes';
  if ((bytes[31]! & 0x80) !== 0) return 'not in canonical form (bit 255 is set)';
  if (!belowFieldPrime(bytes)) return 'not in canonical form (its coordinate is not below 2^255 - 19)';
  if (LOW_ORDER_POINTS.some(point => point.equals(bytes))) return 'a point of low order';
  return undefined;
}

/** Whether a little-endian 255-bit number (bit 255 clear) is below 2^255 - 19. */
function belowFieldPrime(bytes: Buffer): boolean {
  if (bytes[31] !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (bytes[i] !== 0xff) return true;
  return bytes[0]! < 0xed;
}

/** Whether `key` is a Z85 CURVE public key in canonical form and not of low order (see {@link peerKeyProblem}). */
export function isCanonicalCurveKey(key: unknown): key is string {
  const bytes = curveKeyBytes(key);
  return bytes !== undefined && peerKeyProblem(bytes) === undefined;
}

/** Whether `key` is a Z85 CURVE key (40 characters of the Z85 alphabet). */
export function isCurveKey(key: unknown): key is string {
  return curveKeyBytes(key) !== undefined;
}

/** Throws a {@link ZmqOptionsError} naming `option` unless `key` is a Z85 CURVE key. */
export function checkCurveKey(key: unknown, option: string): string {
  if (!isCurveKey(key)) {
    const what = typeof key === 'string' ? `a string of ${key.length} characters` : typeof key;
    throw new ZmqOptionsError(
      option,
      `"${option}" must be a CURVE key: ${CURVE_KEY_LENGTH} characters of Z85 (got ${what}); make one with generateCurveKeyPair() or npx nestjs-zeromq keygen`,
    );
  }
  return key;
}

/** The node:crypto private key of a Z85 secret key. */
export function secretKeyObject(secretKey: string): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_X25519, curveKeyBytes(secretKey)!]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** The node:crypto public key of a Z85 public key. */
export function publicKeyObject(publicKey: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519, curveKeyBytes(publicKey)!]), format: 'der', type: 'spki' });
}

/** The Z85 public key that belongs to a Z85 secret key. */
export function publicKeyOf(secretKey: string): string {
  const der = createPublicKey(secretKeyObject(secretKey)).export({ format: 'der', type: 'spki' });
  return encodeZ85(der.subarray(SPKI_X25519.length));
}

/**
 * Checks a key pair option (`<option>.publicKey`, `<option>.secretKey`):
 * both CURVE keys, and the public key the one of the secret key.
 */
export function checkKeyPair(pair: { publicKey?: unknown; secretKey?: unknown }, option: string): CurveKeyPair {
  const publicKey = checkCurveKey(pair.publicKey, `${option}.publicKey`);
  const secretKey = checkCurveKey(pair.secretKey, `${option}.secretKey`);
  if (publicKeyOf(secretKey) !== publicKey) {
    throw new ZmqOptionsError(
      `${option}.publicKey`,
      `"${option}.publicKey" is not the public key of "${option}.secretKey"`,
    );
  }
  return { publicKey, secretKey };
}
