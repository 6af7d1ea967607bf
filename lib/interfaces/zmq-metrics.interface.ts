/** One bucket of a latency histogram: how many observations were at most `le` seconds (cumulative). */
export interface ZmqLatencyBucket {
  /** Upper bound, in seconds. The `+Inf` bucket is not listed: it is `count`. */
  le: number;
  count: number;
}

/** A latency histogram, Prometheus style: seconds, cumulative buckets. */
export interface ZmqLatency {
  /** Observations. */
  count: number;
  /** Sum of the observations, in seconds. */
  sum: number;
  /** Cumulative buckets, `le` ascending (the same bounds for every histogram: `ZMQ_LATENCY_BUCKETS`). */
  buckets: ZmqLatencyBucket[];
}

/**
 * The figures of one pattern. Every request started counts in `requests`; a
 * finished one counts in exactly one of `ok`, `errors`, `cancels`,
 * `timeouts` (the rest are in flight).
 */
export interface ZmqPatternMetrics {
  /** Requests started (client: sent or refused at once, e.g. NO_PEER; server: handlers started). */
  requests: number;
  /** Events sent (client, one per server it went to) or received (server). */
  events: number;
  /** Requests that ended with a value or END. */
  ok: number;
  /**
   * Requests that failed, by error code (`err.code`; a remote error without
   * one is `REMOTE_ERROR`, as the caller's ZmqRemoteError says). Timeouts and
   * cancels are not here but in their own counters.
   */
  errors: Record<string, number>;
  /** Client: unsubscribed before the end. Server: stopped by a CANCEL, its session's end or close. */
  cancels: number;
  /** Client: `requestTimeout` passed (TIMEOUT). Server: the caller's deadline passed (§5.5). */
  timeouts: number;
  /**
   * Client: round trip, from sending the REQUEST to its last reply message.
   * Server: handler time, from the REQUEST to the last reply envelope queued.
   * Requests that ended with a value, END or a reply ERROR (not cancels,
   * timeouts, or local errors such as PEER_LOST that have no round trip).
   */
  latency: ZmqLatency;
  /** Client only: time from sending the REQUEST to its first CHUNK. */
  firstChunk?: ZmqLatency;
  /** Client only: attempts sent again to another server after their server was lost or shed them (idempotent calls). */
  retries?: number;
  /** Client only: hedges sent (a further attempt to another server while the first had not answered). */
  hedges?: number;
  /** Client only: calls a hedge answered first (the other attempts were cancelled). */
  hedgesWon?: number;
}

/** What `getMetrics()` returns, on a client or a server: plain data, JSON-safe. */
export interface ZmqMetrics {
  /** Per normalized pattern (docs/PROTOCOL.md §3.4). */
  patterns: Record<string, ZmqPatternMetrics>;
  /** Peers with a session now. */
  peers: number;
  /** Calls in flight now. */
  inFlight: number;
  /** Envelopes waiting in the outbound queue(s) now. */
  queued: number;
}
