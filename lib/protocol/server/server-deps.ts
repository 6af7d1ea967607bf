import type { BindChannel, SessionObserver } from '../channel.js';
import type { Clock, Scheduler } from '../clock.js';
import type { Metadata } from '../frames.js';
import type { HeartbeatSettings } from '../handshake.js';
import type { Metrics } from '../metrics.js';
import type { PacketCodec } from '../packet-codec.js';
import type { AdmissionSettings } from './admission.js';
import type { Yield } from '../stream-outbox.js';
import type { ServerCall } from './server-call.js';
import type { HelloAuthorizer } from './server-handshake.js';

/** What the engine needs of the server's resolved options. */
export interface ServerEngineConfig {
  readonly endpoints: readonly string[];
  readonly id: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly maxPayload: number;
  readonly heartbeat: Readonly<HeartbeatSettings>;
  /** Accept MessagePack (encoding 4) from clients that offer it; the codec must be installed before `listen()`. */
  readonly msgpack?: boolean;
  /** Milliseconds a closing server lets its calls in progress finish after DRAIN (docs/PROTOCOL.md §5.6); 0: BYE at once. */
  readonly drainTimeout?: number;
  /**
   * The window this server announces (`streamWindow`, §6) for request
   * streams, and the bytes a stream may buffer beyond its credit
   * (`streamBufferLimit`). Without `window`, the server does not take `credit`.
   */
  readonly stream?: { readonly window: number | undefined; readonly bufferLimit: number };
  /** The channel's outbound queue limit (`sendQueueLimit`), named in a QUEUE_FULL error. */
  readonly socket?: { readonly queueLimit: number; readonly sendTimeout?: number };
  /** Bytes every stream buffer toward one client may hold together (`maxBufferedPerPeer`); no limit when absent. */
  readonly maxBufferedPerPeer?: number;
  /** Admission control (overload protection and the per-peer call budget); defaults when absent. */
  readonly admission?: AdmissionSettings;
}

/** The patterns a WELCOME announces (docs/PROTOCOL.md, WELCOME): `idempotent` only when some handler declared itself so. */
export interface Served {
  patterns: string[];
  events: string[];
  /** Request patterns whose handlers are safe to run twice: a client may retry them on another server. */
  idempotent?: string[];
}

/** What the engine asks of the Nest server it serves. `H` is a handler. */
export interface ServerHost<H> {
  /** The message handler of a pattern; `null` when there is none (event handlers do not count). */
  requestHandler(pattern: string): H | null;
  /** Patterns of the message and event handlers, for the WELCOME. */
  served(): Served;
  /** Whether an EVENT of `pattern` has a handler: one that has none is dropped undecoded (absent: every event is run). */
  servesEvent?(pattern: string): boolean;
  /** Runs a decoded request; the handler's result goes to `call.respond()` or `call.fail()`. */
  runRequest(call: ServerCall, handler: H, data: unknown, metadata: Metadata | undefined): void;
  /** Runs the event handlers of a decoded event (`publicKey`: the sender's proven CURVE key, on a CURVE server). */
  runEvent(pattern: string, data: unknown, peerId: string, metadata: Metadata | undefined, publicKey?: string): void;
}

export interface ServerEngineDeps<H> {
  readonly config: ServerEngineConfig;
  readonly bind: BindChannel;
  readonly host: ServerHost<H>;
  readonly observer: SessionObserver;
  /** The user's `serializer` / `deserializer` options, when set. */
  readonly serializers?: PacketCodec;
  /** A CURVE server's HELLO check (docs/PROTOCOL.md §12.1); without it every valid HELLO may open a session. */
  readonly authorize?: HelloAuthorizer;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
  /** Where the per-pattern counters and handler times go (`getMetrics()`); one on the engine's clock by default. */
  readonly metrics?: Metrics;
  /** Where a stream yields between slices (setImmediate by default). */
  readonly yieldTo?: Yield;
}

/** Where an inbound message came from (one object per engine, refilled per message: no allocation per message). */
export type Origin = { routingId: Buffer; key: string };
