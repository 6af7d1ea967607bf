/**
 * This implementation's own fixed figures: not options, and nothing a peer
 * depends on (docs/PROTOCOL.md leaves them to each implementation). The
 * defaults of user options are in lib/defaults.ts; the wire's limits in
 * limits.ts.
 */

/**
 * Largest HELLO a server reads, in bytes: a client's metadata is kept for
 * its session's life, so a HELLO costs memory until it leaves. A larger one
 * is refused with TOO_LARGE.
 */
export const MAX_HELLO_BYTES = 64 * 1024;

/**
 * Most HELLO bytes a server's sessions hold together (their metadata): a
 * HELLO that would take it past this is refused with TOO_LARGE, and the
 * clients with sessions are unaffected.
 */
export const MAX_RETAINED_HELLO_BYTES = 32 * 1024 * 1024;

/**
 * Most of {@link MAX_RETAINED_HELLO_BYTES} the sessions of one CURVE key may
 * hold: one allowed key cannot use up the budget and keep other keys out.
 */
export const MAX_RETAINED_HELLO_BYTES_PER_KEY = MAX_RETAINED_HELLO_BYTES / 8;

/**
 * Most key-proof nonces (docs/PROTOCOL.md §12.2) a CURVE server keeps
 * unanswered. Past it the oldest is forgotten: a nonce waits for one round
 * trip, so only a peer that issues this many within a client's round trip
 * makes that client say HELLO again.
 */
export const MAX_HELLO_NONCES = 16_384;

/**
 * Most of {@link MAX_HELLO_NONCES} the HELLOs of one CURVE key may hold: past
 * it that key's oldest is forgotten, so one key's churn never evicts another
 * key's nonce.
 */
export const MAX_HELLO_NONCES_PER_KEY = MAX_HELLO_NONCES / 16;

/**
 * Most nonces one connection holds: a few, for HELLOs repeated before the
 * first CHALLENGE arrived; past it that connection's oldest is forgotten.
 */
export const MAX_HELLO_NONCES_PER_CONNECTION = 4;

/** How long, in ms, a nonce stays usable: the proof that answers it is fresh. */
export const HELLO_NONCE_TTL_MS = 10_000;

/**
 * Longest a closing side waits for the BYE with which a peer that took the
 * `bye-ack` feature answers its own (docs/PROTOCOL.md §10): the proof that the
 * peer has it, before the socket closes and the process may exit.
 */
export const BYE_ACK_WAIT_MS = 1_000;

/** Most envelopes the writer coalesces into one ZeroMQ multipart message. */
export const MAX_BATCH_ENVELOPES = 256;

/**
 * Queued envelopes at which the writer sends at once instead of at the end
 * of the turn: with many requests in flight, the peer starts on the first
 * part of a burst while this side still produces the rest (two messages
 * circulate instead of one taken in turns). Below it, everything produced in
 * one turn leaves as one message.
 */
export const EARLY_FLUSH_ENVELOPES = 32;

/** Most payload bytes the writer coalesces into one ZeroMQ multipart message. */
export const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * Most patterns a side keeps metrics for (patterns come from the wire): the
 * figures of any further pattern are added up under `$other`.
 */
export const MAX_METRIC_PATTERNS = 1_000;

/** Most error codes a pattern's metrics tell apart; further codes are added up under `OTHER`. */
export const MAX_METRIC_ERROR_CODES = 64;

/**
 * Longest wait, in ms, between two reconnect tries of a link whose server has
 * just left (BYE, DRAIN then BYE, or a heartbeat timeout), for
 * RETURN_WINDOW_MS: a server that comes back is in use within this of its
 * listen, whatever the configured backoff had grown to (docs/implementation-notes.md).
 */
export const FAST_RECONNECT_MS = 250;

/** How long, in ms, a link whose server left keeps reconnecting every FAST_RECONNECT_MS. */
export const RETURN_WINDOW_MS = 30_000;

/**
 * Longest wait, in ms, for the calls in flight on a link being removed (its
 * endpoint was removed, or its address vanished from the name's answer)
 * before it is closed and they fail with PEER_LOST.
 */
export const RETIRE_WAIT_MS = 30_000;

/**
 * How often, in ms, a link without a session says HELLO again when its channel
 * reports its connection's end (it then re-sends HELLO at once): a safety net.
 */
export const NOTICED_HELLO_RETRY_MS = 10_000;

/**
 * How long, in ms, a link whose HELLO was refused waits before it says HELLO
 * again; doubling with each refusal in a row, up to REFUSED_RETRY_MAX_MS.
 */
export const REFUSED_RETRY_MS = 1_000;

/** The longest wait, in ms, between two HELLOs of a refused link. */
export const REFUSED_RETRY_MAX_MS = 30_000;

/**
 * How long a `connect()` waits for a first session before it probes the
 * endpoints (one short connection attempt each, lib/transport/tcp-probe.ts):
 * a server that answers at once is never probed. At most half the
 * `connectTimeout`.
 */
export const CONNECT_PROBE_DELAY_MS = 250;

/** Longest a probe's connection attempt takes: an endpoint neither accepting nor refusing by then met nothing. */
export const CONNECT_PROBE_TIMEOUT_MS = 1_000;

/** Longest a probe whose connection was accepted waits for the peer's ZeroMQ greeting. */
export const CONNECT_PROBE_GREETING_MS = 250;

/** Longest a probe of every endpoint takes, whatever the probe does (a margin over the two waits above). */
export const CONNECT_PROBE_ROUND_MS = CONNECT_PROBE_TIMEOUT_MS + CONNECT_PROBE_GREETING_MS + 250;
