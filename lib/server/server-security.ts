import { randomBytes } from 'node:crypto';
import { printable } from '../common/log-limiter.js';
import type { TransportMonitor } from '../common/transport-monitor.js';
import type { ServerCurveConfig } from '../config/security-config.js';
import { ZmqAuthFailedError } from '../errors/zmq.errors.js';
import type { HelloAuthorizer } from '../protocol/server/server-handshake.js';
import { KeyAuthority } from '../security/allow.js';
import { helloAuthorizer } from '../security/hello-auth.js';
import type { HandshakeFailure } from '../transport/handshake-monitor.js';
import type { RouterSecurity } from '../transport/zmq-channels.js';

/** Why libzmq failed a client's security handshake, in words. */
function failureText(failure: HandshakeFailure): string {
  switch (failure.code) {
    case 'ERR_ZMTP_MECHANISM_MISMATCH':
      return 'a client without CURVE (plaintext) tried to connect';
    case 'ERR_ZMTP_CRYPTOGRAPHIC':
      return 'a client could not complete the CURVE handshake (it has the wrong server key)';
    default:
      return `a client's security handshake failed (${failure.code ?? failure.kind})`;
  }
}

/**
 * A CURVE server's security, wired to its monitor: the allow-list, the ZAP
 * handler's decision, the HELLO check, refusals as `peer:refused`.
 */
export class ServerSecurity {
  readonly authority: KeyAuthority;
  readonly router: RouterSecurity;
  readonly authorize: HelloAuthorizer;

  constructor(curve: ServerCurveConfig, id: string, monitor: TransportMonitor) {
    this.authority = new KeyAuthority(curve.allow, {
      refused: (peer, reason) => {
        monitor.warn(
          `Refused the CURVE handshake of ${peer.publicKey}${peer.address ? ` (${printable(peer.address)})` : ''}: ${reason}`,
          'Refused CURVE handshakes',
        );
        const error = new ZmqAuthFailedError(`Refused: ${reason}`);
        monitor.refused({ direction: 'downstream', publicKey: peer.publicKey, address: peer.address, error });
      },
      error: message => monitor.error(message, 'allow function failures'),
    });
    this.authorize = helloAuthorizer(curve, this.authority, { acceptUnbound: curve.acceptUnboundKeyProof });
    this.router = {
      curve: {
        publicKey: curve.publicKey,
        secretKey: curve.secretKey,
        // Unique per server object: its ZAP handler entry is its own, even for two servers with one id.
        zapDomain: `nestjs-zeromq/${id}/${randomBytes(8).toString('hex')}`,
      },
      authorize: peer => this.authority.admit(peer),
      problem: (message, kind) => monitor.warn(message, kind),
      failed: failure => {
        // An allow-list refusal was reported by the ZAP decision already, with its key.
        if (failure.kind === 'auth') return;
        const text = failureText(failure);
        monitor.warn(`Refused a connection: ${text}`, 'Failed security handshakes');
        monitor.refused({ direction: 'downstream', error: new ZmqAuthFailedError(`Refused: ${text}`) });
      },
    };
  }
}
