/**
 * Fixed limits of the wire protocol (docs/PROTOCOL.md §9): both sides of a
 * connection agree on them. This implementation's own fixed figures, which
 * the wire does not depend on, are in tuning.ts.
 */

/**
 * Fixed limits of the wire protocol (docs/PROTOCOL.md §9). Not options: both
 * sides of a connection must agree on them.
 */

/** Wire protocol version spoken by this package (docs/PROTOCOL.md). */
export const PROTOCOL_VERSION = 1;

/** Most envelopes one received ZeroMQ message may carry; more is malformed. */
export const MAX_ENVELOPES_PER_MESSAGE = 4_096;

/**
 * Most values (containers, scalars, map keys) one JSON or MessagePack
 * payload may decode into; more is MALFORMED, checked on the bytes before
 * decoding (lib/protocol/expansion.ts, docs/security.md).
 */
export const MAX_DECODED_VALUES = 1_000_000;

/** Most arrays, objects and maps one JSON or MessagePack payload may decode into; more is MALFORMED. */
export const MAX_DECODED_CONTAINERS = 100_000;

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

/** The largest deadline a REQUEST header carries (u32 milliseconds, docs/PROTOCOL.md §5.5). */
export const MAX_DEADLINE_MS = 0xffffffff;
