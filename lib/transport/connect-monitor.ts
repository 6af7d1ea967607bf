/** A DEALER's socket monitor: its connection attempts counted, failed security handshakes and refusals reported. */
import type { Observer } from 'zeromq';
import type { ConnectAttempts } from '../protocol/channel.js';
import type { HandshakeFailure } from './curve-options.js';
import type { ZmqSocket } from './zmq-socket.js';

/** What {@link watchDealer} reports as it happens. */
export interface DealerWatch {
  /** A security handshake failed (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH / _PROTOCOL). */
  handshakeFailed(failure: HandshakeFailure): void;
  /** An attempt ended before a connection was made (nothing accepts connections at the endpoint). */
  refused?(attempts: ConnectAttempts): void;
  /** Stop at the first completed ZeroMQ handshake (the monitor closed, `socket.attempts` cleared). */
  untilHandshake?: boolean;
}

/**
 * Reads `socket`'s monitor until it closes, one event at a time as it
 * arrives, and keeps `socket.attempts` up to date:
 *
 * - `connect:retry` with no `connect` since the previous attempt: refused;
 * - `connect`: a connection was made; `handshake`: ZMTP completed on it;
 * - `handshake:error:auth` / `:protocol`: a failed security handshake;
 *   `handshake:error:other`: the peer broke the handshake off (its errno kept).
 *
 * Nothing it does can become an unhandled rejection: a monitor that fails
 * (its socket closed under it) just stops reporting.
 */
export function watchDealer(socket: ZmqSocket, watch: DealerWatch): void {
  let events: Observer;
  try {
    events = socket.raw.events;
  } catch {
    // zeromq.js could not open the monitor (its inproc endpoint still held by a closed socket's): the socket
    // works without one, and a CONNECT_TIMEOUT then says less.
    return;
  }
  // Closed with its socket at once: a monitor left open holds a socket and its inproc endpoint.
  socket.onClosed(() => events.close());
  const attempts = { refused: 0, accepted: 0, handshakes: 0, lastError: undefined as string | undefined };
  socket.attempts = attempts;
  let connectedSinceRetry = false;
  const loop = async () => {
    while (!socket.isClosed && !events.closed) {
      const event = await events.receive();
      switch (event.type) {
        case 'connect':
          connectedSinceRetry = true;
          attempts.accepted++;
          break;
        case 'handshake':
          attempts.handshakes++;
          if (watch.untilHandshake === true) {
            socket.attempts = undefined;
            events.close();
          }
          break;
        case 'connect:retry':
          if (!connectedSinceRetry) {
            attempts.refused++;
            watch.refused?.(attempts);
          }
          connectedSinceRetry = false;
          break;
        case 'handshake:error:auth':
          watch.handshakeFailed({ kind: 'auth', code: undefined });
          break;
        case 'handshake:error:protocol':
          watch.handshakeFailed({ kind: 'protocol', code: event.error.code });
          break;
        case 'handshake:error:other':
          attempts.lastError = event.error.code ?? event.error.message;
          break;
        default:
          break;
      }
    }
  };
  loop().catch(() => undefined);
}
