import { ZmqMessageTooLargeError, ZmqSerializationError } from '../errors/zmq.errors.js';
import { encodeErrorPayload, encodeWirePayload, payloadBytes, WirePayload } from './codec.js';
import { EMPTY, Encoding, MessageType, OutEnvelope } from './frames.js';

/** An envelope with no payload (END, CANCEL, PING, PONG, BYE, DRAIN). */
export function controlEnvelope(type: MessageType, id = 0): OutEnvelope {
  return {
    type,
    flags: 0,
    encoding: Encoding.None,
    id,
    pattern: undefined,
    metadata: undefined,
    deadline: undefined,
    payload: EMPTY,
  };
}

/** Shared PING, PONG, BYE and DRAIN: the writer never changes a queued envelope, and these carry no id. */
export const PING: OutEnvelope = Object.freeze(controlEnvelope(MessageType.Ping));
export const PONG: OutEnvelope = Object.freeze(controlEnvelope(MessageType.Pong));
export const BYE: OutEnvelope = Object.freeze(controlEnvelope(MessageType.Bye));
export const DRAIN: OutEnvelope = Object.freeze(controlEnvelope(MessageType.Drain));

/**
 * An envelope carrying `value`. Throws {@link ZmqSerializationError} when the
 * value cannot be encoded and {@link ZmqMessageTooLargeError} above `maxPayload`.
 */
export function dataEnvelope(
  type: MessageType,
  id: number,
  value: unknown,
  maxPayload: number,
  flags = 0,
  pattern?: Buffer,
  metadata?: Buffer,
  msgpack = false,
): OutEnvelope {
  let encoded: WirePayload;
  try {
    encoded = encodeWirePayload(value, msgpack);
  } catch (err) {
    throw new ZmqSerializationError(err);
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most texts need no count.
  const { payload } = encoded;
  if (payload.length * (typeof payload === 'string' ? 3 : 1) > maxPayload) {
    const size = payloadBytes(payload);
    if (size > maxPayload) throw new ZmqMessageTooLargeError(size, maxPayload);
  }
  return { type, flags, encoding: encoded.encoding, id, pattern, metadata, deadline: undefined, payload };
}

/** An ERROR envelope; never throws (see encodeErrorPayload). */
export function errorEnvelope(id: number, err: unknown): OutEnvelope {
  const encoded = encodeErrorPayload(err);
  return {
    type: MessageType.Error,
    flags: 0,
    encoding: encoded.encoding,
    id,
    pattern: undefined,
    metadata: undefined,
    deadline: undefined,
    payload: encoded.bytes,
  };
}
