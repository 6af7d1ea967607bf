/** Values of `server.status` / `client.status`. */
export const ZmqStatus = {
  /** Server: listening. Client: at least one server completed the handshake. */
  CONNECTED: 'connected',
  /** Client only: it had servers, has none now, and is trying to get one back. */
  RECONNECTING: 'reconnecting',
  /** Server: not listening. Client: closed, or not connected yet. */
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
  /** The client's proven CURVE public key (downstream peers of a CURVE server only). */
  publicKey?: string;
}

/** Payload of the `peer:refused` event: a handshake that failed. */
export interface ZmqPeerRefusedEvent {
  /** The id the peer claimed, when its hello was readable. */
  peerId?: string;
  direction: 'downstream' | 'upstream';
  /** The server's endpoint (client side only). */
  endpoint?: string;
  /** The client's CURVE public key, when the refusal is about it (server side). */
  publicKey?: string;
  /** The client's network address, when the transport's ZAP handler saw it (server side). */
  address?: string;
  /** `VERSION_MISMATCH`, `HANDSHAKE_REFUSED` or `AUTH_FAILED`. */
  error: Error & { code: string };
}

/** Events of `server.on()` / `client.on()`. */
export type ZmqEvents = {
  'peer:joined': (event: ZmqPeerEvent) => void;
  'peer:left': (event: ZmqPeerEvent) => void;
  'peer:refused': (event: ZmqPeerRefusedEvent) => void;
  /**
   * Client only: a server said it is draining (it is closing): it finishes
   * the calls in flight and takes new requests only when no other server
   * can; `peer:left` (`bye`) follows when it is done.
   */
  'peer:draining': (event: ZmqPeerEvent) => void;
  /**
   * Client only: a server's calls got no answer in time several times in a
   * row: it gets no new calls while others can take them, for a while
   * (docs/resilience.md), then is probed back in (`peer:restored`).
   */
  'peer:ejected': (event: ZmqPeerEvent) => void;
  /** Client only: an ejected server is back in routing. */
  'peer:restored': (event: ZmqPeerEvent) => void;
  /**
   * Client only, plaintext and CURVE alike: while `connect()` waited, a
   * short connection attempt found nothing accepting connections at
   * `endpoint` (ECONNREFUSED, no ipc socket file, no route, or a host name
   * that does not resolve); `attempts` counts such findings for that
   * endpoint since the client was made. When every endpoint is refused,
   * `connect()` fails with CONNECT_REFUSED at once; the sockets keep trying
   * either way. Never emitted for `inproc://` endpoints, which are not probed.
   */
  'connect:refused': (event: ZmqConnectRefusedEvent) => void;
};

/** What a `connect:refused` listener gets. */
export interface ZmqConnectRefusedEvent {
  /** As configured (`connect`) or added (`addEndpoint`). */
  endpoint: string;
  /** Findings of nothing accepting connections there, this one included. */
  attempts: number;
}

/** A peer change as seen by {@link ZmqPeerEvents}, from any server or client of the process. */
export interface ZmqPeerChange extends ZmqPeerEvent {
  type: 'joined' | 'left';
  /** Whether a `ServerZmq` or a `ClientZmq` saw the change. */
  role: 'server' | 'client';
  /** The `id` of that server or client. */
  localId: string;
}

/** How a client picks one server among those that serve a pattern. */
export type ZmqStrategy = 'round-robin' | 'least-pending';

/**
 * Which servers a request or event may go to: a peer id, or a filter on the
 * peers' handshake metadata (every key must be equal), or any predicate.
 */
export type ZmqTarget =
  string | { peerId?: string; metadata?: Record<string, unknown> } | ((peer: ZmqPeerInfo) => boolean);

/** One reply of a broadcast: a value of one server, or that server's error. */
export interface ZmqPeerReply<T> {
  peerId: string;
  value?: T;
  error?: Error;
}

/** An endpoint of a client and what it stands for (`client.getEndpoints()`). */
export interface ZmqEndpointInfo {
  /** As configured (`connect`) or added (`addEndpoint`). */
  endpoint: string;
  /**
   * One per link: the endpoint itself when literal (an address, ipc, inproc),
   * `tcp://address:port` per address a host name resolved to.
   */
  addresses: string[];
}

/** A peer as listed by `getPeers()`. */
export interface ZmqPeerInfo {
  peerId: string;
  direction: 'downstream' | 'upstream';
  endpoint?: string;
  metadata: Record<string, unknown>;
  /** Message patterns the peer serves (upstream peers only). */
  patterns?: string[];
  /** Event patterns the peer handles (upstream peers only). */
  events?: string[];
  /** Requests in flight to (upstream) or from (downstream) the peer. */
  pending: number;
  /** The client's proven CURVE public key (downstream peers of a CURVE server only). */
  publicKey?: string;
  /** A server left out of routing for now: its calls kept timing out (client only). */
  ejected?: boolean;
}

/** Counts of dropped messages by reason (the keys of `getStats().dropped`). */
export type ZmqDropCounts = Record<
  | 'frameCount'
  | 'version'
  | 'type'
  | 'header'
  | 'metadata'
  | 'payload'
  | 'oversized'
  | 'notReady'
  | 'unexpected'
  | 'unroutable'
  | 'lateReply'
  | 'sendFailed'
  /** Client: events `emit()` could not send (no connected server handles the pattern: NO_PEER). */
  | 'unsentEvent',
  number
>;

/** What `server.getStats()` and `client.getStats()` return. */
export interface ZmqStats {
  /** Peers with a session now. */
  peers: number;
  /** Calls in flight (client: awaiting replies; server: handlers running or streaming). */
  inFlight: number;
  /** Envelopes waiting in the outbound queue(s). */
  queued: number;
  /** Dropped messages by reason (docs/PROTOCOL.md §9). */
  dropped: ZmqDropCounts;
  /** Handshakes refused since construction (`peer:refused` events): a server's refused clients, a client's refusals. */
  refused: number;
  /** Server: admission control (overload protection and the per-peer call budget). */
  admission?: ZmqAdmissionStats;
  /** Client: calls shed locally, retried and hedged, and servers ejected as outliers. */
  resilience?: ZmqClientResilienceStats;
}

/** A server's admission control (`getStats().admission`). */
export interface ZmqAdmissionStats {
  /** `flowing` (requests start as read), `queueing` (waiting their turn) or `overloaded` (newest first, stale shed). */
  state: 'flowing' | 'queueing' | 'overloaded';
  /** Requests waiting to start. */
  waiting: number;
  /** Requests refused OVERLOADED so far. */
  shed: number;
  shedByReason: { 'peer-limit': number; 'queue-age': number; 'queue-full': number };
  /** Requests not started because their caller's deadline passed while they waited. */
  abandoned: number;
  /** Requests not started because their caller cancelled them (CANCEL) while they waited. */
  cancelled: number;
  /** Requests one event-loop turn may start now: adapts so that their handlers fit in `turnSliceMs`. */
  turnBudget: number;
  /** The handler time (ms) a turn aims at now: `admission.sliceMs`, at most half of `queueTarget` while overloaded. */
  turnSliceMs: number;
  /** How long (ms) the oldest waiting request has waited (0: none waits). */
  oldestWaitMs: number;
}

/** A client's resilience figures (`getStats().resilience`). */
export interface ZmqClientResilienceStats {
  /** Calls refused OVERLOADED by this client before sending (its servers were refusing most calls). */
  throttled: number;
  /** Attempts sent again to another server (idempotent calls only). */
  retries: number;
  /** Retries not made because the retry budget was spent. */
  retriesDenied: number;
  /** Hedges sent: further attempts to another server while the first had not answered (`hedging`). */
  hedges: number;
  /** Hedges not sent because the retry budget was spent. */
  hedgesDenied: number;
  /** Calls a hedge answered first (the other attempts were cancelled). */
  hedgesWon: number;
  /** Servers ejected as outliers so far. */
  ejections: number;
}
