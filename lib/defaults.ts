/**
 * The default of every user option, in one place (exported as `defaults`).
 * The README's option tables list the same values.
 */

/** Milliseconds `connect()` waits for a first server to complete the handshake. */
export const DEFAULT_CONNECT_TIMEOUT = 5_000;

/**
 * Milliseconds a request may wait for its next reply message (first chunk,
 * next chunk, end or error) before it fails with `TIMEOUT`. `0` disables it.
 */
export const DEFAULT_REQUEST_TIMEOUT = 30_000;

/** Largest payload frame, in bytes, either side sends or accepts (16 MiB). */
export const DEFAULT_MAX_PAYLOAD_SIZE = 16 * 1024 * 1024;

/** Most envelopes a socket's outbound queue holds before `send()` fails with `QUEUE_FULL`. */
export const DEFAULT_SEND_QUEUE_LIMIT = 100_000;

/**
 * Milliseconds a ROUTER send may block on a full peer before the envelopes
 * for it are dropped (and counted). Keeps one stalled peer from blocking the
 * server's writer forever (libzmq PR #4665).
 */
export const DEFAULT_SEND_TIMEOUT = 2_000;

/** Milliseconds unsent messages linger after a socket is closed. */
export const DEFAULT_LINGER = 200;

/** ZeroMQ send high-water mark, in messages (each message may hold a batch). */
export const DEFAULT_SEND_HWM = 10_000;

/**
 * ZeroMQ receive high-water mark, in messages (each message may hold a batch
 * of up to 256 envelopes, so a thousand is ample for throughput). It bounds
 * what libzmq holds for a sender that outruns this process
 * (docs/streams.md, "Memory under floods").
 */
export const DEFAULT_RECEIVE_HWM = 1_000;

/**
 * Values a stream may carry towards this side before this side grants more
 * (credit, docs/PROTOCOL.md §6): a client's for the replies it reads, a
 * server's for the request streams it reads. It grants per half window as
 * the values are taken. `0` offers no flow control (the 1.0 behaviour).
 */
export const DEFAULT_STREAM_WINDOW = 256;

/**
 * Bytes of encoded values one stream this side sends may hold beyond its
 * receiver's credit (an Observable cannot be paused); past it the stream
 * fails with `STREAM_OVERFLOW` on both sides (64 MiB: about a million small
 * values, each counted with its per-value overhead).
 */
export const DEFAULT_STREAM_BUFFER_LIMIT = 64 * 1024 * 1024;

/** Milliseconds between heartbeats, announced in the handshake. */
export const DEFAULT_HEARTBEAT_INTERVAL = 1_000;

/** Missed heartbeat intervals before a peer is declared dead. */
export const DEFAULT_HEARTBEAT_LIVENESS = 3;

/**
 * Milliseconds a client waits before it first tries to reconnect to a server
 * that went away (ZeroMQ's ZMQ_RECONNECT_IVL). Each further try waits twice
 * as long, up to {@link DEFAULT_RECONNECT_MAX_INTERVAL}.
 */
export const DEFAULT_RECONNECT_INTERVAL = 100;

/** Longest wait, in ms, between two reconnect tries (ZeroMQ's ZMQ_RECONNECT_IVL_MAX). */
export const DEFAULT_RECONNECT_MAX_INTERVAL = 5_000;

/**
 * Milliseconds a closing server lets its calls in progress finish after it
 * told its clients DRAIN, before it says BYE (docs/PROTOCOL.md §5.6).
 */
export const DEFAULT_DRAIN_TIMEOUT = 10_000;

/** Milliseconds between two resolutions of an endpoint whose host is a DNS name. */
export const DEFAULT_RESOLVE_INTERVAL = 5_000;

/** How a client picks among the servers that serve a pattern. */
export const DEFAULT_STRATEGY = 'least-pending';

/** Milliseconds `client.ping()` (and the health indicator) waits for each server's PONG. */
export const DEFAULT_PING_TIMEOUT = 2_000;

/** Calls one client session may have in progress or waiting on a server (`maxCallsPerPeer`); 0: no limit. */
export const DEFAULT_MAX_CALLS_PER_PEER = 16_384;

/** How long (ms) one event-loop turn of a server should take: the requests it starts per turn adapt to it (`admission.sliceMs`). */
export const DEFAULT_ADMISSION_SLICE_MS = 10;

/**
 * The longest wait (ms) of a request in an overloaded server's queue before it is shed OVERLOADED; an overloaded
 * server's turns take at most half of it (`admission.queueTarget`); 0: never shed.
 */
export const DEFAULT_ADMISSION_QUEUE_TARGET = 5;

/**
 * The share of its caller's deadline a request may wait in an overloaded server's queue when that is longer than the
 * queue target (`admission.deadlineShare`: 40 ms of a 2 s timeout): a burst its callers can wait for is not shed;
 * 0: the target alone.
 */
export const DEFAULT_ADMISSION_DEADLINE_SHARE = 0.02;

/** A server queue that has not emptied for this long (ms) under surging inflow means overload; as long without pressure ends it (`admission.interval`). */
export const DEFAULT_ADMISSION_INTERVAL = 100;

/** Requests a server's admission queue holds at most (`admission.maxQueued`). */
export const DEFAULT_ADMISSION_MAX_QUEUED = 50_000;

/** Admission control as a server has it when no option changes it. */
export const DEFAULT_ADMISSION = {
  maxCallsPerPeer: DEFAULT_MAX_CALLS_PER_PEER,
  sliceMs: DEFAULT_ADMISSION_SLICE_MS,
  queueTarget: DEFAULT_ADMISSION_QUEUE_TARGET,
  deadlineShare: DEFAULT_ADMISSION_DEADLINE_SHARE,
  assumedDeadline: DEFAULT_REQUEST_TIMEOUT,
  intervalMs: DEFAULT_ADMISSION_INTERVAL,
  maxQueued: DEFAULT_ADMISSION_MAX_QUEUED,
} as const;

/**
 * Bytes every stream buffer toward one client may hold together, values the
 * client has not granted yet (`maxBufferedPerPeer`): a client that stops
 * reading costs the server at most this.
 */
export const DEFAULT_MAX_BUFFERED_PER_PEER = 128 * 1024 * 1024;

/** Retries of idempotent calls (`retries`): attempts of one call (the first included), and the share of requests retries may add. */
export const DEFAULT_RETRIES = { maxAttempts: 3, budget: 0.1 } as const;

/**
 * Hedging of idempotent calls (`hedging`, off unless set): the settings a
 * client's `hedging: {}` or a call's `hedge: true` takes, field by field.
 * `delayMs`: no reply message within it sends the next attempt to another
 * server (set it near the pattern's p95 latency); `maxAttempts`: attempts
 * hedging starts at most, the first included.
 */
export const DEFAULT_HEDGING = { delayMs: 50, maxAttempts: 2 } as const;

/**
 * Whether a server answers `$zmq/metrics` (`introspection`): off, because
 * the answer names every client and pattern (docs/security.md).
 */
export const DEFAULT_INTROSPECTION = false;

/**
 * Whether a CURVE server accepts a HELLO key proof that is not bound to its
 * connection (`acceptUnboundKeyProof`): off, because such a proof can be
 * replayed (docs/security.md).
 */
export const DEFAULT_ACCEPT_UNBOUND_KEY_PROOF = false;
