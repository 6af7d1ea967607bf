import { createHash, createHmac, diffieHellman, KeyObject, timingSafeEqual } from 'node:crypto';
import { CurveKeyPair, curveKeyBytes, peerKeyProblem, publicKeyObject, secretKeyObject } from './keys.js';

/**
 * The HELLO feature of a client that proves its CURVE key in the HELLO
 * (docs/PROTOCOL.md §12.1): `curve: { key, proof }`.
 */
export const CURVE_KEY_FEATURE = 'curve-key';

/** The `curve` field of a HELLO: the client's public key and the proof that it holds the secret one. */
export interface HelloCurve {
  key: string;
  proof: string;
}

const LABEL = 'nestjs-zeromq curve-key 1';

/** Most shared secrets a server keeps (one X25519 per client key otherwise). */
const MAX_CACHED = 4_096;

function proofKey(secret: KeyObject, peer: KeyObject): Buffer {
  const shared = diffieHellman({ privateKey: secret, publicKey: peer });
  return createHash('sha256').update(LABEL).update(shared).digest();
}

function mac(key: Buffer, serverKey: string, clientKey: string, id: string, instance: string): Buffer {
  // NUL separates the fields: none of them can hold one (Z85 keys; ids are checked strings).
  return createHmac('sha256', key).update(`hello\0${serverKey}\0${clientKey}\0${id}\0${instance}`).digest();
}

/**
 * What a client puts in its HELLO to a server whose public key is
 * `serverKey`: `proof` is an HMAC, keyed by their X25519 shared secret, over
 * both keys and the HELLO's id and instance. Only a holder of the client's
 * (or the server's) secret key can make it.
 */
export function helloProof(pair: CurveKeyPair, serverKey: string, id: string, instance: string): HelloCurve {
  const key = proofKey(secretKeyObject(pair.secretKey), publicKeyObject(serverKey));
  return { key: pair.publicKey, proof: mac(key, serverKey, pair.publicKey, id, instance).toString('base64') };
}

/** Checks HELLO proofs for one server key pair. */
export class HelloProofVerifier {
  private readonly secret: KeyObject;
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly pair: CurveKeyPair) {
    this.secret = secretKeyObject(pair.secretKey);
  }

  /** The proven client key, or why the HELLO's `curve` field proves nothing. */
  verify(curve: HelloCurve | undefined, id: string, instance: string | undefined): { publicKey: string } | string {
    if (curve === undefined) return `the hello carries no key proof (feature "${CURVE_KEY_FEATURE}")`;
    const bytes = curveKeyBytes(curve.key);
    if (bytes === undefined) return 'the hello key is not a CURVE key';
    const problem = peerKeyProblem(bytes);
    if (problem !== undefined) return `the hello key is ${problem}`;
    let key: Buffer;
    try {
      key = this.keyFor(curve.key);
    } catch {
      return 'the hello key gives no shared secret';
    }
    const expected = mac(key, this.pair.publicKey, curve.key, id, instance ?? '');
    const given = Buffer.from(curve.proof, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return 'the hello key proof does not match its key';
    }
    return { publicKey: curve.key };
  }

  private keyFor(clientKey: string): Buffer {
    let key = this.keys.get(clientKey);
    if (key === undefined) {
      key = proofKey(this.secret, publicKeyObject(clientKey));
      if (this.keys.size >= MAX_CACHED) this.keys.clear();
      this.keys.set(clientKey, key);
    }
    return key;
  }
}
