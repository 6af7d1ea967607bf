import { isUtf8 } from 'node:buffer';
import { EMPTY, Encoding, MalformedError } from './frames.js';
import { expansionProblem } from './expansion.js';
import { msgpackCodec } from './msgpack.js';

/** An encoded payload frame. */
export interface EncodedPayload {
  encoding: Encoding;
  bytes: Buffer;
}

/** `String.prototype.isWellFormed` (ES2024, Node >= 20): false for a lone surrogate, which UTF-8 cannot carry. */
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/**
 * A payload ready for the writer: bytes, or text that goes out as its UTF-8
 * bytes. Text stays a string up to the socket, where zeromq.js converts it
 * into memory it frees once sent: no Buffer per message waits for a GC.
 */
export interface WirePayload {
  encoding: Encoding;
  payload: Buffer | string;
}

/**
 * Encodes a value for the wire: `undefined` as NONE, a Buffer or Uint8Array
 * as RAW (no copy for a Buffer), a string as TEXT (one with a lone surrogate
 * as JSON, whose escapes keep it), anything else as JSON text, or as
 * MSGPACK with `msgpack` (a session that negotiated it). Throws what
 * JSON.stringify throws (BigInt, cycles).
 */
export function encodeWirePayload(value: unknown, msgpack = false): WirePayload {
  if (value === undefined) {
    return { encoding: Encoding.None, payload: EMPTY };
  }
  if (typeof value === 'string' && isWellFormed(value)) {
    // JSON.stringify and JSON.parse of a long string cost several times its UTF-8 conversion.
    return { encoding: Encoding.Text, payload: value };
  }
  if (Buffer.isBuffer(value)) {
    return { encoding: Encoding.Raw, payload: value };
  }
  if (value instanceof Uint8Array) {
    return { encoding: Encoding.Raw, payload: Buffer.from(value.buffer, value.byteOffset, value.byteLength) };
  }
  if (msgpack) return { encoding: Encoding.Msgpack, payload: packMsgpack(value) };
  const text = JSON.stringify(value);
  // Functions and symbols stringify to undefined: they travel as "no value".
  return text === undefined ? { encoding: Encoding.None, payload: EMPTY } : { encoding: Encoding.Json, payload: text };
}

function packMsgpack(value: unknown): Buffer {
  const codec = msgpackCodec();
  if (codec === undefined) throw new Error('MessagePack is not loaded in this process');
  return codec.pack(value);
}

/** Size in bytes of a payload on the wire. */
export function payloadBytes(payload: Buffer | string): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
}

/**
 * Decodes a payload frame, or throws {@link MalformedError}. `msgpack`: the
 * session agreed on MessagePack (docs/PROTOCOL.md §4.4); without it a MSGPACK
 * payload is undecodable, even in a process that has the codec loaded (§3.1).
 */
export function decodePayload(encoding: Encoding, bytes: Buffer, id = 0, msgpack = false): unknown {
  switch (encoding) {
    case Encoding.None:
      return undefined;
    case Encoding.Raw:
      return bytes;
    case Encoding.Text:
      if (!isUtf8(bytes)) throw new MalformedError('payload', 'payload is not valid UTF-8', id);
      return bytes.toString('utf8');
    case Encoding.Msgpack:
      if (!msgpack)
        throw new MalformedError('payload', 'a MSGPACK payload on a session that did not agree on msgpack', id);
      return unpackMsgpack(bytes, id);
    default:
      checkExpansion('json', bytes, id);
      try {
        return JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new MalformedError('payload', 'payload is not valid JSON', id);
      }
  }
}

/** Throws {@link MalformedError} when a payload would decode into more than the expansion limit allows. */
function checkExpansion(kind: 'json' | 'msgpack', bytes: Buffer, id: number): void {
  const problem = expansionProblem(kind, bytes);
  if (problem !== undefined) throw new MalformedError('payload', problem, id);
}

/**
 * Turns any thrown or emitted error value into something JSON can carry.
 * Never throws: cycles, BigInt and exotic values degrade to `{ message }`.
 */
export function encodeErrorPayload(err: unknown): EncodedPayload {
  try {
    // Inside the try: reading a field may run a getter that throws.
    let value: unknown = err;
    if (err instanceof Error) {
      const plain: Record<string, unknown> = { name: err.name, message: err.message };
      for (const key of Object.keys(err)) {
        plain[key] = (err as unknown as Record<string, unknown>)[key];
      }
      value = plain;
    } else if (err === undefined) {
      value = { status: 'error', message: 'Unknown error' };
    }
    const text = JSON.stringify(value);
    if (text !== undefined) {
      return { encoding: Encoding.Json, bytes: Buffer.from(text, 'utf8') };
    }
  } catch {
    // fall through to the safe form
  }
  let message: string;
  try {
    message = String(err instanceof Error ? err.message : err);
  } catch {
    message = 'Unserializable error';
  }
  return { encoding: Encoding.Json, bytes: Buffer.from(JSON.stringify({ status: 'error', message }), 'utf8') };
}

function unpackMsgpack(bytes: Buffer, id: number): unknown {
  const codec = msgpackCodec();
  if (codec === undefined)
    throw new MalformedError('payload', 'a MSGPACK payload, but this side did not negotiate it', id);
  checkExpansion('msgpack', bytes, id);
  try {
    return codec.unpack(bytes);
  } catch {
    throw new MalformedError('payload', 'payload is not valid MessagePack', id);
  }
}
