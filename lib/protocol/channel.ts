import type { ZmqPeerEvent, ZmqPeerRefusedEvent } from '../interfaces/zmq-events.interface.js';
import type { DropCounterKey } from './drop-counter.js';
import type { OutEnvelope } from './frames.js';

/**
 * Why a batch of envelopes could not be written: `unroutable`, the peer's
 * connection is gone (a ROUTER's EHOSTUNREACH); `failed`, any other error.
 */
export type SendFailure = 'unroutable' | 'failed';

/** What a channel reports to the engine that owns it. */
export interface ChannelHandlers {
  /** One received message: header/payload pairs, after a routing-id frame on a server. */
  message(frames: Buffer[]): void;
  /** Envelopes the writer could not send, and to whom (a routing id on a server). */
  sendFailed(failure: SendFailure, envelopes: readonly OutEnvelope[], destination: Buffer | undefined): void;
  /** The receive loop hit an error (it goes on). */
  receiveError(err: unknown): void;
  /**
   * The connection ended (the peer's process died, its socket closed), as the
   * transport saw it at once. On a server: the peer with this routing id; on a
   * client (an empty routing id): the one server connection of the channel.
   */
  disconnected?(routingId: Buffer): void;
}

/**
 * A socket as the session engines see it: envelopes out, messages in
 * (through {@link ChannelHandlers}), close. lib/transport/ implements it over
 * zeromq.js; unit tests implement it with a fake.
 */
export interface Channel {
  /** Envelopes waiting to be written. */
  readonly queued: number;
  readonly isClosed: boolean;
  /** The channel reports its connection's end (`disconnected`): a client's DEALER with ZMQ_HICCUP_MSG. */
  readonly notices?: boolean;
  /** The native socket, for `unwrap()`. */
  readonly raw: unknown;
  /**
   * Queues an envelope (on a server, for the peer with `destination` as
   * routing id). Throws `QUEUE_FULL` when the queue is at its limit; a
   * `final` envelope (the last of a call or session) has a reserve beyond it.
   */
  send(envelope: OutEnvelope, destination?: Buffer, final?: boolean): void;
  /** Flushes what is queued (within the linger time), then closes. Never rejects. */
  close(): Promise<void>;
}

/** How a client channel reconnects. */
export interface ConnectOptions {
  /**
   * Its server just left: reconnect every FAST_RECONNECT_MS at most instead
   * of the configured backoff (a fresh channel also starts that backoff afresh).
   */
  readonly fastReconnect?: boolean;
}

/** Opens a client channel connected to one server endpoint. */
export type ConnectChannel = (endpoint: string, handlers: ChannelHandlers, options?: ConnectOptions) => Channel;

/** A server channel and the endpoints it bound, `*` ports resolved. */
export interface BoundChannel {
  readonly channel: Channel;
  readonly endpoints: string[];
}

/** Binds a server channel to every endpoint; rejects with `BIND_FAILED`, having closed it, when one fails. */
export type BindChannel = (endpoints: readonly string[], handlers: ChannelHandlers) => Promise<BoundChannel>;

/** Where an engine reports what a user may want to know: peer changes, drops, problems. */
export interface SessionObserver {
  joined(event: ZmqPeerEvent): void;
  left(event: ZmqPeerEvent): void;
  refused(event: ZmqPeerRefusedEvent): void;
  /** Client only: a server said DRAIN (docs/PROTOCOL.md §5.6). */
  draining?(event: ZmqPeerEvent): void;
  /** Client only: a server was ejected as an outlier, or is back in routing. */
  health?(event: ZmqPeerEvent, change: 'ejected' | 'restored'): void;
  /** Client only: an attempt to connect to `endpoint` was refused (nothing accepts connections there). */
  connectRefused?(endpoint: string, attempts: number): void;
  /** Counts `n` dropped envelopes or messages by reason. */
  drop(reason: DropCounterKey, detail: string, n?: number): void;
  /**
   * A problem worth a log line. `kind` names the condition when it can repeat
   * (a peer's refusals, a failing receive loop): repeats of one kind are
   * rate-limited and summarised.
   */
  warn(message: string, kind?: string): void;
  error(message: string, kind?: string): void;
}
