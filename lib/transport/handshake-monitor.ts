/** Reports a CURVE socket's failed security handshakes, read from its libzmq monitor. */
import type { Observer } from 'zeromq';
import type { ZmqSocket } from './zmq-socket.js';

/** A failed security handshake as libzmq reported it (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH / _PROTOCOL). */
export interface HandshakeFailure {
  readonly kind: 'auth' | 'protocol';
  /** zeromq.js's code, e.g. `ERR_ZMTP_MECHANISM_MISMATCH`; none for an authentication failure. */
  readonly code: string | undefined;
}

/**
 * How often attaching a monitor is tried. zeromq.js names a monitor's inproc
 * endpoint after its observer's address; a new observer can land at the
 * address of a freed one whose socket libzmq has not yet reaped, and then the
 * attach fails with EADDRINUSE. A failed observer stays allocated until it is
 * collected, so the next try gets another address.
 */
const MONITOR_ATTEMPTS = 8;

/** The socket's monitor; tries again while its inproc endpoint is still taken (see MONITOR_ATTEMPTS). */
export function attachMonitor(socket: Pick<ZmqSocket, 'raw'>, attempts = MONITOR_ATTEMPTS): Observer {
  for (let attempt = 1; ; attempt++) {
    try {
      return socket.raw.events;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EADDRINUSE' || attempt >= attempts) throw err;
    }
  }
}

/**
 * Reports every failed security handshake of `socket` (ZMQ_EVENT_HANDSHAKE_
 * FAILED_AUTH and _PROTOCOL) until it closes. Reads the socket's monitor with
 * its own loop, every event as it arrives; nothing it does can become an
 * unhandled rejection. Only CURVE sockets are watched (docs/PROTOCOL.md §10).
 */
export function watchHandshakes(socket: ZmqSocket, onFailure: (failure: HandshakeFailure) => void): void {
  const events = attachMonitor(socket);
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
