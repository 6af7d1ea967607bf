/** Values of `server.status` / `client.status`. */
export const ZmqStatus = {
  CONNECTED: 'connected',
  DISCONNECTED: 'disconnected',
} as const;

export type ZmqStatus = (typeof ZmqStatus)[keyof typeof ZmqStatus];

/** Why a peer left. */
export type ZmqPeerLeftReason = 'bye' | 'timeout' | 'disconnect';

/** Payload of the `peer:joined` and `peer:left` events. */
export interface ZmqPeerEvent {
  /** The peer's id from its handshake. */
  peerId: string;
  /** `downstream`: a client of this server; `upstream`: a server this client calls. */
  direction: 'downstream' | 'upstream';
  /** The endpoint this client connected to (upstream peers only). */
  endpoint?: string;
  /** The metadata the peer sent in its handshake. */
  metadata: Record<string, unknown>;
  /** Why the peer left (`peer:left` only). */
  reason?: ZmqPeerLeftReason;
}

/** Events of `server.on()` / `client.on()`. */
export type ZmqEvents = {
  'peer:joined': (event: ZmqPeerEvent) => void;
  'peer:left': (event: ZmqPeerEvent) => void;
};

/** A peer as listed by `getPeers()`. */
export interface ZmqPeerInfo {
  peerId: string;
  direction: 'downstream' | 'upstream';
  endpoint?: string;
  metadata: Record<string, unknown>;
  /** Patterns the peer serves (upstream peers only). */
  patterns?: string[];
}
