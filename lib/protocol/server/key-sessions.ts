import { BYE } from '../envelopes.js';
import type { ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import type { DownstreamSession } from './sessions.js';

/** What ending the sessions of a key needs of the server engine. */
export interface KeySessionHost {
  readonly sessions: { values(): IterableIterator<DownstreamSession> };
  send(session: DownstreamSession, env: typeof BYE, final?: boolean): boolean;
  endSession(session: DownstreamSession, reason: ZmqPeerLeftReason): void;
}

/**
 * Ends every session of the client with this CURVE public key
 * (docs/PROTOCOL.md §12): BYE, its calls cancelled, `peer:left`
 * (`disconnect`). Returns how many ended.
 */
export function endSessionsOfKey(host: KeySessionHost, publicKey: string): number {
  const ended = [...host.sessions.values()].filter(s => s.publicKey === publicKey);
  for (const session of ended) {
    host.send(session, BYE, true);
    host.endSession(session, 'disconnect');
  }
  return ended.length;
}
