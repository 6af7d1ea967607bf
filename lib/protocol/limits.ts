/**
 * Fixed limits of the wire protocol (docs/PROTOCOL.md §8). Not options: both
 * sides of a connection must agree on them.
 */

/** Wire protocol version spoken by this package (docs/PROTOCOL.md). */
export const PROTOCOL_VERSION = 1;

/** Most envelopes one received ZeroMQ message may carry; more is malformed. */
export const MAX_ENVELOPES_PER_MESSAGE = 4_096;

/** Largest pattern, in UTF-8 bytes. */
export const MAX_PATTERN_BYTES = 4_096;

/** Largest encoded metadata section, in bytes. */
export const MAX_METADATA_BYTES = 16 * 1024;

/**
 * Largest HELLO or WELCOME payload, in bytes, whatever `maxPayloadSize` is:
 * the one limit a sender checks before it sends and a receiver before it reads.
 */
export const MAX_HANDSHAKE_BYTES = 256 * 1024;

/** Longest `id` or `instance` in a handshake, in characters. */
export const MAX_ID_LENGTH = 256;

/**
 * Longest a closing side waits for the BYE with which a peer that took the
 * `bye-ack` feature answers its own (docs/PROTOCOL.md §9): the proof that the
 * peer has it, before the socket closes and the process may exit.
 */
export const BYE_ACK_WAIT_MS = 1_000;

/** Most envelopes the writer coalesces into one ZeroMQ multipart message. */
export const MAX_BATCH_ENVELOPES = 256;

/** Most payload bytes the writer coalesces into one ZeroMQ multipart message. */
export const MAX_BATCH_BYTES = 1024 * 1024;

/** The largest deadline a REQUEST header carries (u32 milliseconds, docs/PROTOCOL.md §5.6). */
export const MAX_DEADLINE_MS = 0xffffffff;

/**
 * Most patterns a side keeps metrics for (patterns come from the wire): the
 * figures of any further pattern are added up under `$other`.
 */
export const MAX_METRIC_PATTERNS = 1_000;

/** Most error codes a pattern's metrics tell apart; further codes are added up under `OTHER`. */
export const MAX_METRIC_ERROR_CODES = 64;
