import { createHash, createHmac, diffieHellman, KeyObject, timingSafeEqual } from 'node:crypto';
import { CurveKeyPair, curveKeyBytes, peerKeyProblem, publicKeyObject, secretKeyObject } from './keys.js';

/**
 * The HELLO feature of a client that proves its CURVE key in the HELLO
 * (docs/PROTOCOL.md §12.1): `curve: { key, proof }`.
 */
export const CURVE_KEY_FEATURE = 'curve-key';

/**
 * The HELLO feature of a client that binds its key proof to the connection
 * (docs/PROTOCOL.md §12.2): it answers a server's CHALLENGE with a HELLO whose
 * proof covers that CHALLENGE's single-use nonce.
 */
export const BOUND_KEY_FEATURE = 'curve-key-2';

/** The `curve` field of a HELLO: the client's public key, the proof that it holds the secret one, and the nonce the proof covers. */
export interface HelloCurve {
  key: string;
  proof: string;
  /** The server's CHALLENGE nonce the proof is bound to (§12.2); absent: the unbound proof of §12.1. */
  nonce?: string;
}

/** A client's key proof for one link: unbound (`nonce` undefined) or bound to a server's nonce. */
export type CurveHelloOf = (slot: number, endpoint: string, nonce?: string) => HelloCurve | undefined;

const LABEL = 'nestjs-zeromq curve-key 1';

/** Most shared secrets a server keeps (one X25519 per client key otherwise). */
const MAX_CACHED = 4_096;

function proofKey(secret: KeyObject, peer: KeyObject): Buffer {
  const shared = diffieHellman({ privateKey: secret, publicKey: peer });
  return createHash('sha256').update(LABEL).update(shared).digest();
}

/**
 * The HMAC of a proof. NUL separates the fields: none of them can hold one
 * (Z85 keys, base64 nonces; ids are checked strings). The bound proof's
 * label differs from the unbound one's at its sixth byte, so neither is ever
 * the other.
 */
function mac(key: Buffer, serverKey: string, clientKey: string, id: string, instance: string, nonce?: string): Buffer {
  const fields = `${serverKey}\0${clientKey}\0${id}\0${instance}`;
  const text = nonce === undefined ? `hello\0${fields}` : `hello-bound\0${fields}\0${nonce}`;
  return createHmac('sha256', key).update(text).digest();
}

/**
 * What a client puts in its HELLO to a server whose public key is
 * `serverKey`: `proof` is an HMAC, keyed by their X25519 shared secret, over
 * both keys, the HELLO's id and instance and, when given, the server's
 * `nonce` (§12.2). Only a holder of the client's (or the server's) secret key
 * can make it.
 */
export function helloProof(
  pair: CurveKeyPair,
  serverKey: string,
  id: string,
  instance: string,
  nonce?: string,
): HelloCurve {
  const key = proofKey(secretKeyObject(pair.secretKey), publicKeyObject(serverKey));
  const proof = mac(key, serverKey, pair.publicKey, id, instance, nonce).toString('base64');
  return { key: pair.publicKey, proof, ...(nonce !== undefined ? { nonce } : {}) };
}

/** Checks HELLO proofs for one server key pair. */
export class HelloProofVerifier {
  private readonly secret: KeyObject;
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly pair: CurveKeyPair) {
    this.secret = secretKeyObject(pair.secretKey);
  }

  /**
   * The proven client key, or why the HELLO's `curve` field proves nothing.
   * A `curve` with a `nonce` is checked as the bound proof over it; whether
   * the server issued that nonce is the caller's to check.
   */
  verify(curve: HelloCurve | undefined, id: string, instance: string | undefined): { publicKey: string } | string {
    if (curve === undefined) return `the hello carries no key proof (feature "${CURVE_KEY_FEATURE}")`;
    const problem = this.keyProblem(curve.key);
    if (problem !== undefined) return problem;
    let key: Buffer;
    try {
      key = this.keyFor(curve.key);
    } catch {
      return 'the hello key gives no shared secret';
    }
    const expected = mac(key, this.pair.publicKey, curve.key, id, instance ?? '', curve.nonce);
    const given = Buffer.from(curve.proof, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return 'the hello key proof does not match its key';
    }
    return { publicKey: curve.key };
  }

  /** Why `key` cannot be a client's CURVE key (not Z85, not canonical, low order), or `undefined`. */
  private keyProblem(key: string): string | undefined {
    const bytes = curveKeyBytes(key);
    if (bytes === undefined) return 'the hello key is not a CURVE key';
    const problem = peerKeyProblem(bytes);
    return problem === undefined ? undefined : `the hello key is ${problem}`;
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
