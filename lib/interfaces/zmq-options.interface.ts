import type { Deserializer, Serializer } from '@nestjs/microservices';
import type { ZmqStrategy } from './zmq-events.interface.js';

/**
 * Options shared by {@link ServerZmq} and {@link ClientZmq}. Every default
 * lives in `lib/constants.ts`.
 */
export interface ZmqCommonOptions {
  /**
   * This side's id, sent in the handshake and shown to peers as `peerId`.
   * @default a random 16-byte hex string
   */
  id?: string;
  /** Free-form JSON metadata sent to peers in the handshake. @default {} */
  metadata?: Record<string, unknown>;
  /**
   * Largest payload in bytes this side sends or accepts. A larger outgoing
   * payload fails with `TOO_LARGE`; a larger incoming one is dropped and counted.
   * @default 16 MiB (DEFAULT_MAX_PAYLOAD_SIZE)
   */
  maxPayloadSize?: number;
  /**
   * Most envelopes waiting in a socket's outbound queue; one more fails with
   * `QUEUE_FULL`. @default 100000 (DEFAULT_SEND_QUEUE_LIMIT)
   */
  sendQueueLimit?: number;
  /**
   * Flow control (README "Streams and flow control"): the values a stream
   * may carry towards this side that its subscriber has not taken yet — a
   * client's replies, a server's request streams. This side grants more per
   * half window as they are taken. `0` offers no credit: streams towards this
   * side are not flow-controlled (a 1.0 peer's behaviour), and a client with
   * 0 cannot stream requests. @default 256 (DEFAULT_STREAM_WINDOW)
   */
  streamWindow?: number;
  /**
   * Bytes of values (encoded payload and 48 bytes of overhead each) one
   * stream this side sends may buffer while its receiver has no credit (a
   * pushing Observable cannot be paused; an AsyncIterable or Readable is only
   * pulled when there is credit). Past it the stream fails with
   * `STREAM_OVERFLOW` on both sides and its producer is unsubscribed.
   * @default 67108864 (DEFAULT_STREAM_BUFFER_LIMIT, 64 MiB)
   */
  streamBufferLimit?: number;
  /** Milliseconds unsent messages linger after close. @default 200 (DEFAULT_LINGER) */
  linger?: number;
  /** ZeroMQ send high-water mark, in messages. @default 10000 */
  sendHighWaterMark?: number;
  /** ZeroMQ receive high-water mark, in messages. @default 1000 (DEFAULT_RECEIVE_HWM) */
  receiveHighWaterMark?: number;
  /**
   * Milliseconds of silence after which this side PINGs a peer (any traffic
   * counts as a sign of life). Announced in the handshake. @default 1000
   */
  heartbeatInterval?: number;
  /**
   * Silent intervals after which this side declares a peer dead
   * (`peer:left` with reason `'timeout'`, its calls fail with `PEER_LOST`).
   * Detection takes at most `heartbeatInterval × (heartbeatLiveness + 1)`. @default 3
   */
  heartbeatLiveness?: number;
  /**
   * Nest's serializer, as in Nest's own transports: what it returns for an
   * outgoing packet is the payload on the wire (a Buffer travels as RAW, a
   * string as TEXT, anything else as JSON). A client serializes
   * `{ pattern, data, id }` (requests) and `{ pattern, data }` (events); a
   * server serializes every reply, `{ id, response, isDisposed? }` or
   * `{ id, err }`. The other side needs the matching `deserializer`.
   * Synchronous only: a Promise result fails the call with `SERIALIZATION`.
   * @default none: the payload is the data itself
   */
  serializer?: Serializer;
  /**
   * Nest's deserializer, the counterpart of the other side's `serializer`: it
   * gets each incoming payload as decoded from its encoding. A server's must
   * return `{ data }` (Nest's incoming request; `pattern` may be there too, the
   * header's pattern routes); a client's must return `{ response }` or `{ err }`.
   * Synchronous only.
   * @default none: the payload is the data itself
   */
  deserializer?: Deserializer;
  /**
   * `'msgpack'`: send object payloads as MessagePack (msgpackr, an optional
   * peer dependency: `npm install msgpackr`) to every peer that negotiated it
   * in the handshake, so Dates, Maps, Sets, BigInts, typed arrays and Buffers
   * inside objects arrive as themselves; a peer without it gets JSON. Strings,
   * Buffers and `undefined` keep their own encodings.
   * @default 'json'
   */
  codec?: 'json' | 'msgpack';
  /**
   * Keep per-pattern counters and latency histograms, read with
   * `getMetrics()` (README "Metrics"). `false` turns every hook into a no-op
   * (the benchmark measures the difference). Gauges are read either way.
   * @default true
   */
  metrics?: boolean;
}

/** A client as an `allow` function sees it, at its CURVE handshake. */
export interface ZmqCurvePeer {
  /** The client's CURVE public key (Z85, 40 characters). */
  publicKey: string;
  /** The client's network address as libzmq reports it (an IP for tcp; empty for ipc and inproc). */
  address: string;
}

/**
 * Which clients may connect to a CURVE server: a list of their public keys;
 * a function deciding per handshake (a throw, a rejection or no answer within
 * 5 s refuses); or `'*'`, any client with a key pair (encryption without
 * authentication, written out on purpose).
 */
/** Who may read `$zmq/metrics`: nobody, any client, or the CURVE clients with these public keys. */
export type ZmqIntrospectionOption = boolean | { readonly keys: readonly string[] };

export type ZmqAllow = readonly string[] | ((peer: ZmqCurvePeer) => boolean | Promise<boolean>) | '*';

/** A server's CURVE key pair (Z85 strings; make one with `generateCurveKeyPair()` or `npx nestjs-zeromq keygen`). */
export interface ZmqServerCurveOptions {
  publicKey: string;
  secretKey: string;
}

/** A client's CURVE settings. */
export interface ZmqClientCurveOptions {
  /** The server's public key; with several endpoints, one key for all or a map endpoint → key. */
  serverKey: string | Record<string, string>;
  /** This client's key pair; without one, a fresh pair is made (then only an `allow: '*'` server accepts it). */
  publicKey?: string;
  secretKey?: string;
}

/** Options of {@link ServerZmq}. */
export interface ZmqServerOptions extends ZmqCommonOptions {
  /**
   * Endpoint(s) the ROUTER binds: `tcp://127.0.0.1:4000`, `tcp://127.0.0.1:*`
   * (a free port; read it back from `server.endpoints` after listen),
   * `ipc:///tmp/svc.sock`, `inproc://svc`.
   */
  bind: string | string[];
  /**
   * Symbol that `@MessagePattern(pattern, transportId)` can name to bind a
   * handler to this server only. @default ZMQ_TRANSPORT
   */
  transportId?: symbol;
  /**
   * Milliseconds a send to a peer that does not read may block before the
   * envelopes are dropped and counted. @default 2000 (DEFAULT_SEND_TIMEOUT)
   */
  sendTimeout?: number;
  /**
   * Answer the reserved request pattern `$zmq/metrics` with this server's id,
   * uptime, peers and `getMetrics()` (docs/PROTOCOL.md §5.7; what
   * `npx nestjs-zeromq top` reads): `true` for any client, `{ keys }` (with
   * `curve`) for the clients with these public keys only. Anyone else, and
   * everyone with `false`, gets `NO_HANDLER`. The answer names every client
   * id and served pattern: open it to operators only (docs/security.md).
   * @default false
   */
  introspection?: ZmqIntrospectionOption;
  /**
   * Encrypts and authenticates every connection with CURVE (RFC 26): this
   * server's key pair. Needs `allow`. @default none: plaintext
   */
  curve?: ZmqServerCurveOptions;
  /**
   * With `curve`: which clients may connect (their public keys, a function,
   * or `'*'`); checked at every CURVE handshake by the transport's ZAP
   * handler and at every HELLO. Change it at run time with `server.setAllow()`.
   */
  allow?: ZmqAllow;
  /**
   * With `curve`: also accept the HELLO key proof of a client that cannot bind
   * it to its connection (one without the `curve-key-2` feature), for a
   * migration. Such a proof can be replayed by another allowed key on its own
   * connection to take the client's session over; each one accepted is
   * logged (rate-limited) with its key. Turn it off once every client is
   * upgraded (docs/security.md).
   * @default false (DEFAULT_ACCEPT_UNBOUND_KEY_PROOF)
   */
  acceptUnboundKeyProof?: boolean;
  /**
   * Milliseconds a closing server (`close()`, `app.close()`, SIGTERM with
   * Nest's shutdown hooks) lets its calls in progress finish after telling its
   * clients DRAIN, before it says BYE and cancels what is left. Clients stop
   * sending it new requests at once. `0`: BYE at once.
   * @default 10000 (DEFAULT_DRAIN_TIMEOUT)
   */
  drainTimeout?: number;
  /**
   * Calls one client session may have in progress or waiting; a REQUEST past
   * it is answered `OVERLOADED` at once, so no single peer can take the whole
   * server. `0`: no limit.
   * @default 16384 (DEFAULT_MAX_CALLS_PER_PEER)
   */
  maxCallsPerPeer?: number;
  /**
   * Bytes all streams toward one client may buffer together (values waiting
   * for its credit, and request-stream values waiting for their handler); a
   * stream that would pass it ends with `STREAM_OVERFLOW`.
   * @default 134217728 (128 MiB, DEFAULT_MAX_BUFFERED_PER_PEER)
   */
  maxBufferedPerPeer?: number;
  /**
   * Overload protection (docs/resilience.md). Each event-loop turn starts as
   * many requests as fit in `sliceMs` of handler time (learnt from the turns
   * before); the rest wait in a queue where their age is known. When the
   * queue has not emptied for `interval` ms while requests kept surging in
   * faster than they started, the server is overloaded until an `interval`
   * passes in which every turn emptied its queue: it serves the newest
   * first, in turns of at most half of `queueTarget`, and answers those that
   * waited longer than `queueTarget` ms and `deadlineShare` of their
   * caller's deadline with `OVERLOADED`, so callers hear early instead of
   * timing out and the calls it serves wait little.
   * Bursts and callers in closed loops are served whole. A request whose
   * caller's deadline passed while it waited never runs. `false`: requests start as they are read, however many.
   * @default { sliceMs: 10, queueTarget: 5, deadlineShare: 0.02, interval: 100, maxQueued: 50000 }
   */
  admission?: false | ZmqAdmissionOptions;
}

/** Tuning of a server's overload protection; every field has a default that needs no tuning. */
export interface ZmqAdmissionOptions {
  /** How long (ms) one event-loop turn should take: the requests started per turn adapt to it, later ones wait. @default 10 */
  sliceMs?: number;
  /**
   * The longest wait (ms) in an overloaded server: past it (and past `deadlineShare` of its deadline) a request is
   * shed; turns take at most half of it while overloaded. 0: nothing is shed for its age. @default 5
   */
  queueTarget?: number;
  /** The share (0–1) of its caller's deadline a request may wait in an overloaded server, when longer than `queueTarget`. @default 0.02 */
  deadlineShare?: number;
  /** A queue that has not emptied for this long (ms) under surging inflow means overload; as long without pressure ends it. @default 100 */
  interval?: number;
  /** Requests the queue holds at most; past it the oldest is shed. @default 50000 */
  maxQueued?: number;
}

/** Options of {@link ClientZmq}. */
export interface ZmqClientOptions extends ZmqCommonOptions {
  /** Server endpoint(s); one DEALER connects to each. */
  connect: string | string[];
  /**
   * Milliseconds `connect()` waits for a first server to complete the
   * handshake before it rejects with `CONNECT_TIMEOUT` (with
   * `CONNECT_REFUSED` before then, once nothing accepts connections at any
   * endpoint). @default 5000
   */
  connectTimeout?: number;
  /**
   * Milliseconds a request may wait for its next reply message before it
   * fails with `TIMEOUT` (the clock restarts at every streamed chunk); `0`
   * disables it. @default 30000 (DEFAULT_REQUEST_TIMEOUT)
   */
  requestTimeout?: number;
  /**
   * How a request picks one of the servers that serve its pattern:
   * `'least-pending'` (fewest requests in flight: a server whose calls stop
   * coming back is avoided from its first unanswered calls) or `'round-robin'`.
   * @default 'least-pending'
   */
  strategy?: ZmqStrategy;
  /**
   * Retries of calls whose server declared their pattern idempotent
   * (`@MessagePattern(pattern, { idempotent: true })`): such a call is sent to
   * another server when its server is lost or sheds it, before any value of
   * its reply arrived, within its `requestTimeout` (docs/resilience.md).
   * `maxAttempts` counts the first; `budget` is the share of requests that
   * retries may add (a sick mesh is not hammered). `false`: never retry.
   * @default { maxAttempts: 3, budget: 0.1 }
   */
  retries?: false | { maxAttempts?: number; budget?: number };
  /**
   * Hedging of calls whose server declared their pattern idempotent: when no
   * reply message came within `delayMs`, the call is also sent to another
   * server (never the same one); the first answer wins and the other attempts
   * are cancelled. `maxAttempts` counts the first (2: one hedge). Hedges spend
   * the retry budget (`retries.budget`). A call can turn it on or off with a
   * `ZmqRecord` (docs/resilience.md). `false`: no hedging.
   * @default false (`{}` takes { delayMs: 50, maxAttempts: 2 }, DEFAULT_HEDGING)
   */
  hedging?: false | { delayMs?: number; maxAttempts?: number };
  /**
   * Milliseconds before the first try to reconnect to a server that went
   * away; each further try waits twice as long, up to `reconnectMaxInterval`.
   * @default 100 (DEFAULT_RECONNECT_INTERVAL)
   */
  reconnectInterval?: number;
  /** Longest wait between reconnect tries, in ms. @default 5000 (DEFAULT_RECONNECT_MAX_INTERVAL) */
  reconnectMaxInterval?: number;
  /**
   * Connects with CURVE (RFC 26): the server's public key (`serverKey`) and,
   * optionally, this client's key pair. @default none: plaintext
   */
  curve?: ZmqClientCurveOptions;
  /**
   * Milliseconds between two resolutions of an endpoint whose host is a name
   * (`tcp://math.default.svc:4000`): it is resolved to every address, one
   * link each, and followed as addresses come and go. Also resolved at once
   * when every server is gone. @default 5000 (DEFAULT_RESOLVE_INTERVAL)
   */
  resolveInterval?: number;
  /**
   * Resolves a host name to its addresses (IPv4 or IPv6 literals), instead of
   * DNS (`dns.lookup` with `all: true`): for tests, Consul's HTTP API, a
   * Kubernetes Endpoints watch. A rejection or an empty answer keeps the
   * addresses of the last answer.
   */
  resolver?: (host: string) => Promise<string[]>;
}
