import type { HedgeSettings, RetrySettings } from './retries.js';
import type { ZmqStatus, ZmqTarget } from '../../interfaces/zmq-events.interface.js';
import type { ConnectChannel, SessionObserver } from '../channel.js';
import type { Clock, Scheduler } from '../clock.js';
import type { HeartbeatSettings } from '../handshake.js';
import type { Metrics } from '../metrics.js';
import type { PacketCodec } from '../packet-codec.js';
import type { ConnectDiagnostics } from './connect-probe.js';
import type { UpstreamLink } from './upstream-link.js';
import type { CurveHelloOf } from '../../security/hello-proof.js';

/** What the engine needs of the client's resolved options. */
export interface ClientEngineConfig {
  readonly endpoints: readonly string[];
  /** The `serializer` / `deserializer` options, as the HELLO announces them (features `serializer`, `plain-replies`). */
  readonly serializers?: Readonly<PacketCodec> | undefined;
  readonly id: string;
  readonly instance: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly connectTimeout: number;
  readonly requestTimeout: number;
  readonly maxPayload: number;
  readonly heartbeat: Readonly<HeartbeatSettings>;
  readonly strategy: 'round-robin' | 'least-pending';
  /** Retries of idempotent calls; absent: never. */
  readonly retries?: RetrySettings | undefined;
  /** Hedging of idempotent calls; absent: none unless a call asks for it. */
  readonly hedging?: HedgeSettings | undefined;
  /** Offer MessagePack (encoding 4) in the HELLO; the codec must be installed before `connect()`. */
  readonly msgpack?: boolean;
  /** The HELLO's CURVE key proof of a link (features `curve-key`, `curve-key-2`, docs/PROTOCOL.md §12). */
  readonly curveHello?: CurveHelloOf | undefined;
  /** Milliseconds between two resolutions of the endpoints that name a host (default DEFAULT_RESOLVE_INTERVAL). */
  readonly resolveInterval?: number;
  /** `streamWindow` (undefined: no credit offered) and `streamBufferLimit` (§6). */
  readonly stream?: { readonly window: number | undefined; readonly bufferLimit: number };
  /** The channel's outbound queue limit (`sendQueueLimit`), named in a QUEUE_FULL error. */
  readonly socket?: { readonly queueLimit: number };
}

export interface ClientEngineDeps {
  readonly config: ClientEngineConfig;
  /** Opens the channel of one link (lib/transport/ in production, a fake in unit tests). */
  readonly connect: ConnectChannel;
  readonly observer: SessionObserver;
  /** The user's `serializer` / `deserializer` options, when set. */
  readonly serializers?: PacketCodec;
  /** Told each time the status changes; never twice the same in a row. */
  readonly status: (status: ZmqStatus) => void;
  /**
   * Resolves a host name to its addresses (the `resolver` option, or DNS):
   * a `tcp://name:port` endpoint gets a link per address. Without it, names
   * are left to libzmq (one connection, to the first address).
   */
  readonly resolve?: (host: string) => Promise<string[]>;
  /**
   * Probes the endpoints while `connect()` waits (lib/transport/tcp-probe.ts):
   * nothing accepting connections anywhere ends the wait with
   * CONNECT_REFUSED, and a CONNECT_TIMEOUT says what each endpoint met.
   * Without it, neither.
   */
  readonly diagnostics?: ConnectDiagnostics;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
  /** Where the per-pattern counters and latencies go (`getMetrics()`); one on the engine's clock by default. */
  readonly metrics?: Metrics;
  /** Randomness in [0, 1) for adaptive throttling (Math.random by default). */
  readonly random?: () => number;
}

/** Where one request may go: any server for its pattern, those `target` picks, or one `link`. */
export interface Route {
  readonly target?: ZmqTarget;
  readonly link?: UpstreamLink;
}

/** Any server that serves the pattern (shared: no object per request). */
export const ANY_SERVER: Route = Object.freeze({});
