/** CURVE socket options, as lib/transport/raw-sockets.ts applies them to a ROUTER or a DEALER. */
import type { ZmqSocket } from './zmq-socket.js';

/** CURVE settings of a ROUTER: the server's key pair and the ZAP domain its handler knows it by. */
export interface RouterCurve {
  readonly publicKey: string;
  readonly secretKey: string;
  readonly zapDomain: string;
}

/** CURVE settings of a DEALER: its key pair and the server's public key. */
export interface DealerCurve {
  readonly publicKey: string;
  readonly secretKey: string;
  readonly serverKey: string;
}

/** A failed security handshake as libzmq reported it (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH / _PROTOCOL). */
export interface HandshakeFailure {
  readonly kind: 'auth' | 'protocol';
  /** zeromq.js's code, e.g. `ERR_ZMTP_MECHANISM_MISMATCH`; none for an authentication failure. */
  readonly code: string | undefined;
}

/**
 * Socket options of a CURVE server: `zapEnforceDomain`, so that a
 * connection is refused, never accepted, when no ZAP handler answers for
 * `zapDomain` (docs/PROTOCOL.md §12).
 */
export function routerCurveOptions(curve: RouterCurve) {
  return {
    curveServer: true,
    curvePublicKey: curve.publicKey,
    curveSecretKey: curve.secretKey,
    zapDomain: curve.zapDomain,
    zapEnforceDomain: true,
  };
}

/** Socket options of a CURVE client. */
export function dealerCurveOptions(curve: DealerCurve) {
  return { curveServerKey: curve.serverKey, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey };
}

/**
 * Reports every failed security handshake of `socket` (ZMQ_EVENT_HANDSHAKE_
 * FAILED_AUTH and _PROTOCOL) until it closes. Reads the socket's monitor with
 * its own loop, every event as it arrives; nothing it does can become an
 * unhandled rejection. Only CURVE sockets are watched (docs/PROTOCOL.md §10).
 */
export function watchHandshakes(socket: ZmqSocket, onFailure: (failure: HandshakeFailure) => void): void {
  const events = socket.raw.events;
  const loop = async () => {
    while (!socket.isClosed && !events.closed) {
      const event = await events.receive();
      if (event.type === 'handshake:error:auth') onFailure({ kind: 'auth', code: undefined });
      else if (event.type === 'handshake:error:protocol') onFailure({ kind: 'protocol', code: event.error.code });
    }
  };
  // A monitor that fails (its socket closed under it) just stops reporting.
  loop().catch(() => undefined);
}
