/** CURVE socket options, as lib/transport/raw-sockets.ts applies them to a ROUTER or a DEALER. */

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
