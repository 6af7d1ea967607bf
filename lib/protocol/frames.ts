import { MAX_HANDSHAKE_BYTES, MAX_METADATA_BYTES, MAX_PATTERN_BYTES, PROTOCOL_VERSION } from './limits.js';
import { checkTypeRules, hasPattern } from './type-rules.js';

/** Envelope types; the numbers are on the wire (docs/PROTOCOL.md §3). */
export const enum MessageType {
  Hello = 1,
  Welcome = 2,
  Request = 3,
  Chunk = 4,
  End = 5,
  Error = 6,
  Event = 7,
  Cancel = 8,
  Ping = 9,
  Pong = 10,
  Bye = 11,
  /**
   * Not an envelope but a container of packed envelopes (docs/PROTOCOL.md
   * §2.1). The transport unpacks it on receipt; one that cannot be unpacked
   * reaches decodeEnvelope and is dropped as an unknown type.
   */
  Batch = 12,
  /**
   * The server is draining (docs/PROTOCOL.md §5.6): send it no new requests;
   * those in flight still get their replies, then BYE. Negotiated (`drain`).
   */
  Drain = 13,
  /** A stream's receiver lets its sender send that many more values (§6). Negotiated (`credit`). */
  Credit = 14,
  /**
   * A CURVE server's single-use nonce for the key proof of the next HELLO on
   * this connection (docs/PROTOCOL.md §12.2). Negotiated (`curve-key-2`).
   */
  Challenge = 15,
}

/** The highest type a header may carry; BATCH (12) never reaches the decoder unpacked, so it is dropped as malformed there. */
const MAX_TYPE = MessageType.Challenge;
const isEnvelopeType = (type: number): boolean =>
  type >= MessageType.Hello && type <= MAX_TYPE && type !== MessageType.Batch;

/** Header flag bits. */
export const enum Flag {
  /** On a CHUNK: this chunk is also the last one of the reply. */
  End = 0x01,
  /** A metadata section follows the pattern. */
  Metadata = 0x02,
  /** On a REQUEST: the caller's remaining time follows (u32 ms); negotiated (`deadline` feature). */
  Deadline = 0x04,
  /** On a REQUEST: its data is a stream of CHUNKs and an END on the call's id (§6.1); negotiated (`credit`). */
  Stream = 0x08,
}

const KNOWN_FLAGS = Flag.End | Flag.Metadata | Flag.Deadline | Flag.Stream;
const SECTION_FLAGS = Flag.Metadata | Flag.Deadline;

/** How the payload frame is encoded. */
export const enum Encoding {
  /** Empty frame: the value is `undefined`. */
  None = 0,
  /** UTF-8 JSON text. */
  Json = 1,
  /** Opaque bytes, delivered as a Buffer. */
  Raw = 2,
  /** A string as its UTF-8 bytes: no JSON quoting, escaping or parsing. */
  Text = 3,
  /** One MessagePack value (negotiated: the `msgpack` handshake feature, docs/PROTOCOL.md §3.5). */
  Msgpack = 4,
}

const MAX_ENCODING = Encoding.Msgpack;

/** Fixed part of the header: version, type, flags, encoding, id, pattern length. */
export const HEADER_FIXED_BYTES = 10;

export type Metadata = Record<string, string>;

/** A decoded envelope. `payload` is the raw payload frame. */
export interface Envelope {
  type: MessageType;
  flags: number;
  encoding: Encoding;
  id: number;
  pattern: string | undefined;
  metadata: Metadata | undefined;
  /** REQUEST only: the milliseconds the caller will still wait, when it said (§5.5). */
  deadline: number | undefined;
  payload: Buffer;
}

/**
 * An envelope waiting to be written. The header is encoded at flush time so
 * that a queued last CHUNK can still take the END flag (see SocketWriter).
 */
export interface OutEnvelope {
  type: MessageType;
  flags: number;
  encoding: Encoding;
  id: number;
  pattern: Buffer | undefined;
  metadata: Buffer | undefined;
  /**
   * REQUEST only: the caller's remaining time in ms (1 to 2^32-1), sent to
   * servers that took `deadline`. Every constructor sets the field (undefined
   * when there is none), so all envelopes share one shape on the hot path.
   */
  deadline?: number | undefined;
  /** The payload frame; a string goes out as its UTF-8 bytes. */
  payload: Buffer | string;
}

/** Why an inbound message or envelope was dropped. Counted per reason. */
export type DropReason =
  'frameCount' | 'version' | 'type' | 'header' | 'metadata' | 'payload' | 'oversized' | 'notReady' | 'unexpected';

export class MalformedError extends Error {
  constructor(
    readonly reason: DropReason,
    message: string,
    /** Request id, when the header was readable far enough to know it. */
    readonly id = 0,
  ) {
    super(message);
  }
}

export const EMPTY = Buffer.alloc(0);

/** Length in bytes of an envelope's header frame. */
export function headerLength(env: OutEnvelope): number {
  const metadata = env.metadata === undefined ? 0 : 2 + env.metadata.length;
  return HEADER_FIXED_BYTES + (env.pattern?.length ?? 0) + metadata + (env.deadline === undefined ? 0 : 4);
}

/** Writes an envelope's header at `offset` of `buf`; returns the offset after it. */
export function writeHeader(env: OutEnvelope, buf: Buffer, offset: number): number {
  buf[offset] = PROTOCOL_VERSION;
  buf[offset + 1] = env.type;
  buf[offset + 2] =
    (env.flags & ~SECTION_FLAGS) |
    (env.metadata === undefined ? 0 : Flag.Metadata) |
    (env.deadline === undefined ? 0 : Flag.Deadline);
  buf[offset + 3] = env.encoding;
  buf.writeUInt32BE(env.id >>> 0, offset + 4);
  buf.writeUInt16BE(env.pattern?.length ?? 0, offset + 8);
  offset += HEADER_FIXED_BYTES;
  if (env.pattern !== undefined) {
    offset += env.pattern.copy(buf, offset);
  }
  if (env.metadata !== undefined) {
    buf.writeUInt16BE(env.metadata.length, offset);
    offset += 2 + env.metadata.copy(buf, offset + 2);
  }
  if (env.deadline !== undefined) {
    buf.writeUInt32BE(env.deadline, offset);
    offset += 4;
  }
  return offset;
}

/** Encodes an envelope's header frame. */
export function encodeHeader(env: OutEnvelope): Buffer {
  const buf = Buffer.allocUnsafe(headerLength(env));
  writeHeader(env, buf, 0);
  return buf;
}

/** Encodes a metadata map for the header, or throws if it is too large. */
export function encodeMetadata(metadata: Metadata): Buffer {
  const bytes = Buffer.from(JSON.stringify(metadata), 'utf8');
  if (bytes.length > MAX_METADATA_BYTES) {
    throw new RangeError(`metadata of ${bytes.length} bytes exceeds ${MAX_METADATA_BYTES}`);
  }
  return bytes;
}

/** Encodes a pattern for the header, or throws if it is too large. */
export function encodePattern(pattern: string): Buffer {
  const bytes = Buffer.from(pattern, 'utf8');
  if (bytes.length > MAX_PATTERN_BYTES) {
    throw new RangeError(`pattern of ${bytes.length} bytes exceeds ${MAX_PATTERN_BYTES}`);
  }
  return bytes;
}

function decodeMetadata(buf: Buffer, start: number, end: number, id: number): Metadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8', start, end)) as unknown;
  } catch {
    throw new MalformedError('metadata', 'metadata is not JSON', id);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new MalformedError('metadata', 'metadata is not an object', id);
  }
  // A null-prototype copy: a "__proto__" key stays an ordinary key.
  const out = Object.create(null) as Metadata;
  for (const key of Object.keys(parsed)) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value !== 'string') {
      throw new MalformedError('metadata', `metadata value of "${key}" is not a string`, id);
    }
    out[key] = value;
  }
  return out;
}

/** Checks the fixed 10 header bytes (§3); returns the request id. */
function checkFixedHeader(header: Buffer): number {
  if (header.length < HEADER_FIXED_BYTES) {
    throw new MalformedError('header', `header of ${header.length} bytes is shorter than ${HEADER_FIXED_BYTES}`);
  }
  const version = header[0]!;
  const type = header[1]!;
  const flags = header[2]!;
  const encoding = header[3]!;
  const id = header.readUInt32BE(4);
  // Of another version only bytes 0 and 1 are known (§3): not even the id, so it gets no answer.
  if (version !== PROTOCOL_VERSION) throw new MalformedError('version', `unsupported protocol version ${version}`);
  if (!isEnvelopeType(type)) throw new MalformedError('type', `unknown message type ${type}`, id);
  if ((flags & ~KNOWN_FLAGS) !== 0 || encoding > MAX_ENCODING) {
    throw new MalformedError('header', `unknown flags 0x${flags.toString(16)} or encoding ${encoding}`, id);
  }
  checkTypeRules(type, flags, encoding, id);
  return id;
}

/** The pattern of a header whose fixed part is valid (`undefined` for types without one). */
function readPattern(header: Buffer, type: number, id: number): string | undefined {
  const patternLen = header.readUInt16BE(8);
  if (!hasPattern(type)) {
    if (patternLen !== 0) throw new MalformedError('header', `message type ${type} carries no pattern`, id);
    return undefined;
  }
  if (patternLen === 0 || HEADER_FIXED_BYTES + patternLen > header.length) {
    throw new MalformedError('header', 'missing or truncated pattern', id);
  }
  if (patternLen > MAX_PATTERN_BYTES) {
    throw new MalformedError('header', `pattern of ${patternLen} bytes exceeds ${MAX_PATTERN_BYTES}`, id);
  }
  return header.toString('utf8', HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + patternLen);
}

/** The metadata section at `offset` (it takes 2 + the u16 length at `offset` bytes). */
function readMetadata(header: Buffer, offset: number, id: number): Metadata {
  if (offset + 2 > header.length) throw new MalformedError('header', 'truncated metadata length', id);
  const length = header.readUInt16BE(offset);
  const end = offset + 2 + length;
  if (end > header.length) throw new MalformedError('header', 'truncated metadata', id);
  if (length > MAX_METADATA_BYTES) {
    throw new MalformedError('metadata', `metadata of ${length} bytes exceeds ${MAX_METADATA_BYTES}`, id);
  }
  return decodeMetadata(header, offset + 2, end, id);
}

/** The deadline section at `offset`: 4 bytes, REQUEST only, at least 1 ms. */
function readDeadline(header: Buffer, offset: number, type: number, id: number): number {
  if (type !== MessageType.Request) throw new MalformedError('header', `message type ${type} carries no deadline`, id);
  if (offset + 4 > header.length) throw new MalformedError('header', 'truncated deadline', id);
  const deadline = header.readUInt32BE(offset);
  if (deadline === 0) throw new MalformedError('header', 'a deadline of 0 ms', id);
  return deadline;
}

function checkPayload(type: number, encoding: number, payload: Buffer, maxPayload: number, id: number): void {
  // The handshake has a limit of its own, the same for sender and receiver: a
  // small maxPayloadSize must not lock peers out, a large one must not let a hello grow.
  const handshake = type === MessageType.Hello || type === MessageType.Welcome || type === MessageType.Challenge;
  const limit = handshake ? MAX_HANDSHAKE_BYTES : maxPayload;
  if (payload.length > limit) {
    throw new MalformedError('oversized', `payload of ${payload.length} bytes exceeds ${limit}`, id);
  }
  if (encoding === Encoding.None && payload.length !== 0) {
    throw new MalformedError('payload', 'payload frame must be empty for encoding NONE', id);
  }
  if (type === MessageType.Credit && (payload.length !== 4 || payload.readUInt32BE(0) === 0)) {
    throw new MalformedError('payload', 'a CREDIT grant is a u32 of at least 1', id);
  }
}

/**
 * Decodes one header frame plus its payload frame. Throws {@link MalformedError}
 * for anything docs/PROTOCOL.md §9 says to drop.
 */
export function decodeEnvelope(header: Buffer, payload: Buffer, maxPayload: number): Envelope {
  const id = checkFixedHeader(header);
  const type = header[1]!;
  const flags = header[2]!;
  const encoding = header[3]!;
  const pattern = readPattern(header, type, id);
  let offset = HEADER_FIXED_BYTES + (pattern === undefined ? 0 : header.readUInt16BE(8));
  let metadata: Metadata | undefined;
  let deadline: number | undefined;
  if (flags & Flag.Metadata) {
    metadata = readMetadata(header, offset, id);
    offset += 2 + header.readUInt16BE(offset);
  }
  if (flags & Flag.Deadline) {
    deadline = readDeadline(header, offset, type, id);
    offset += 4;
  }
  if (offset !== header.length) {
    throw new MalformedError('header', `${header.length - offset} trailing header bytes`, id);
  }
  checkPayload(type, encoding, payload, maxPayload, id);
  return { type, flags, encoding, id, pattern, metadata, deadline, payload };
}
