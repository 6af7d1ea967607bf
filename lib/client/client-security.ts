import type { ClientConfig } from '../config/client-config.js';
import { serverKeyOf } from '../config/security-config.js';
import { ZmqAuthFailedError } from '../errors/zmq.errors.js';
import type { ClientEngine } from '../protocol/client/client-engine.js';
import type { HandshakeFailure } from '../transport/handshake-monitor.js';
import type { DealerSecurity } from '../transport/zmq-channels.js';

/** The AUTH_FAILED of a security handshake libzmq failed on the link to `endpoint`. */
export function handshakeError(endpoint: string, failure: HandshakeFailure, curve: boolean): ZmqAuthFailedError {
  if (failure.kind === 'auth') {
    return new ZmqAuthFailedError(
      `Server ${endpoint} refused this client's CURVE key (not on its allow-list)`,
      endpoint,
    );
  }
  if (failure.code === 'ERR_ZMTP_MECHANISM_MISMATCH') {
    const text = curve
      ? `Server ${endpoint} does not use CURVE, and this client does`
      : `Server ${endpoint} requires CURVE: set this client's "curve" option`;
    return new ZmqAuthFailedError(text, endpoint);
  }
  return new ZmqAuthFailedError(
    `The security handshake with ${endpoint} failed (${failure.code ?? 'protocol error'})`,
    endpoint,
  );
}

/**
 * A client's security on its links: the CURVE options of each DEALER, and
 * every security handshake libzmq fails turned into a refusal of that link
 * (`AUTH_FAILED`, `peer:refused`), once per link.
 */
export function dealerSecurity(config: ClientConfig, engine: () => ClientEngine): DealerSecurity {
  const { curve, endpoints } = config;
  return {
    curveOf: endpoint => {
      if (curve === undefined) return undefined;
      const serverKey = serverKeyOf(curve, endpoints, endpoint);
      if (serverKey === undefined) {
        throw new Error(`no curve.serverKey for ${endpoint}: endpoints a name resolves to need one key for all`);
      }
      return { publicKey: curve.publicKey, secretKey: curve.secretKey, serverKey };
    },
    failed: (channel, failure) => {
      const link = engine().links.find(l => l.channel === channel);
      const kind = link?.state.kind;
      if (link === undefined || kind === 'refused' || kind === 'closing' || kind === 'closed') return;
      engine().refused(link, handshakeError(link.endpoint, failure, curve !== undefined));
    },
  };
}
