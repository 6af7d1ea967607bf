import type { Hello } from '../protocol/handshake.js';
import type { KeyAuthority } from './allow.js';
import { HelloProofVerifier } from './hello-proof.js';
import type { CurveKeyPair } from './keys.js';

/** A HELLO's verdict on a CURVE server: the client's proven key, or why it is refused. */
export type HelloAuth = { readonly publicKey: string } | { readonly refusal: string; readonly publicKey?: string };

/**
 * Decides a HELLO on a CURVE server (docs/PROTOCOL.md §12.1): the HELLO must
 * prove a key (its sender holds the secret key) and that key must be allowed
 * now. Both hold or the HELLO is refused with AUTH_FAILED: an authenticated
 * client can never speak as another key.
 */
export function helloAuthorizer(pair: CurveKeyPair, authority: KeyAuthority): (hello: Hello) => HelloAuth {
  const verifier = new HelloProofVerifier(pair);
  return hello => {
    const proven = verifier.verify(hello.curve, hello.id, hello.instance);
    if (typeof proven === 'string') return { refusal: proven };
    if (!authority.admits(proven.publicKey)) {
      return { refusal: 'its public key is not on the allow-list', publicKey: proven.publicKey };
    }
    return proven;
  };
}
