import { hasFeature, type Hello } from '../protocol/handshake.js';
import type { KeyAuthority } from './allow.js';
import { HelloNonces } from './hello-nonces.js';
import { BOUND_KEY_FEATURE, HelloProofVerifier } from './hello-proof.js';
import type { CurveKeyPair } from './keys.js';

/**
 * A HELLO's verdict on a CURVE server: the client's proven key (`unbound`:
 * proven by the unbound proof a migrating server still accepts), a nonce to
 * send the connection in a CHALLENGE (no session yet), or why it is refused.
 */
export type HelloAuth =
  | { readonly publicKey: string; readonly unbound?: boolean }
  | { readonly challenge: string; readonly publicKey: string }
  | { readonly refusal: string; readonly publicKey?: string };

/** How a CURVE server checks HELLOs. */
export interface HelloAuthOptions {
  /** Accept the unbound proof of a client without `curve-key-2` (a migration; replayable). */
  readonly acceptUnbound: boolean;
  readonly nonces?: HelloNonces | undefined;
}

const UNBOUND = `its key proof is not bound to the connection: upgrade the client to one that offers "${BOUND_KEY_FEATURE}" (or let this server accept unbound proofs while clients migrate: acceptUnboundKeyProof)`;

/**
 * Decides a HELLO on a CURVE server (docs/PROTOCOL.md §12): the HELLO must
 * prove a key (its sender holds the secret key) with a proof bound to its
 * connection, and that key must be allowed now. A HELLO offering
 * `curve-key-2` without a nonce gets one (a CHALLENGE) once its unbound proof
 * verifies; the HELLO that answers is checked against the nonce issued to
 * `connection`, which it uses up. Anything else is refused with AUTH_FAILED:
 * an authenticated client can never speak as another key, and a HELLO
 * replayed on another connection, or a second time, proves nothing.
 */
export function helloAuthorizer(
  pair: CurveKeyPair,
  authority: KeyAuthority,
  options: HelloAuthOptions,
): (hello: Hello, connection: string, now: number) => HelloAuth {
  const verifier = new HelloProofVerifier(pair);
  const nonces = options.nonces ?? new HelloNonces();
  return (hello, connection, now) => {
    const { curve } = hello;
    if (curve?.nonce !== undefined) {
      // The nonce first: a HELLO naming none of this connection's costs no X25519.
      const unused = nonces.use(curve.nonce, connection, curve.key, now);
      if (unused !== undefined) return { refusal: `the hello key proof is not fresh: ${unused}` };
    }
    const proven = verifier.verify(curve, hello.id, hello.instance);
    if (typeof proven === 'string') return { refusal: proven };
    const { publicKey } = proven;
    if (!authority.admits(publicKey)) return { refusal: 'its public key is not on the allow-list', publicKey };
    if (curve?.nonce !== undefined) return proven;
    if (hasFeature(hello, BOUND_KEY_FEATURE)) return { challenge: nonces.issue(connection, publicKey, now), publicKey };
    return options.acceptUnbound ? { publicKey, unbound: true } : { refusal: UNBOUND, publicKey };
  };
}
