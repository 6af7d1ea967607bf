/** What a HELLO decision needs of a session. */
export interface SessionIdentity {
  readonly id: string;
  readonly instance?: string | undefined;
}

/**
 * What a server does with a valid HELLO (docs/PROTOCOL.md §4.2, §4.3):
 * - `renew`: the same client (id and instance) on the same connection lost
 *   track of its session: end its calls and WELCOME again; it does not leave;
 * - `handover`: the same client object on a new connection (its BYE on the
 *   old one may still be on the way): end `previous`, open a new session;
 * - `impostor`: another live connection holds the id: refuse;
 * - `new`: open a session; `replaced` is this connection's old session of
 *   another client, which ends.
 */
export type HelloDecision<S> =
  | { readonly kind: 'renew'; readonly session: S }
  | { readonly kind: 'handover'; readonly previous: S; readonly replaced: S | undefined }
  | { readonly kind: 'impostor'; readonly holder: S }
  | { readonly kind: 'new'; readonly replaced: S | undefined };

/**
 * Decides a HELLO. `onConnection` is the session of the connection the HELLO
 * came on; `ofClient` the session holding the HELLO's id anywhere.
 */
export function decideHello<S extends SessionIdentity>(
  hello: SessionIdentity,
  onConnection: S | undefined,
  ofClient: S | undefined,
): HelloDecision<S> {
  if (onConnection !== undefined && onConnection.id === hello.id && onConnection.instance === hello.instance) {
    return { kind: 'renew', session: onConnection };
  }
  if (ofClient !== undefined && ofClient !== onConnection) {
    if (hello.instance !== undefined && hello.instance === ofClient.instance) {
      return { kind: 'handover', previous: ofClient, replaced: onConnection };
    }
    return { kind: 'impostor', holder: ofClient };
  }
  return { kind: 'new', replaced: onConnection };
}
