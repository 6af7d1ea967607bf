import { ZmqSerializationError } from '../errors/zmq.errors.js';
import { decodePayload } from './codec.js';
import type { Envelope } from './frames.js';

/** A user's `serializer` option: Nest's `Serializer` shape, used synchronously. */
export interface PacketSerializer {
  serialize(value: any, options?: Record<string, any>): unknown;
}

/** A user's `deserializer` option: Nest's `Deserializer` shape, used synchronously. */
export interface PacketDeserializer {
  deserialize(value: any, options?: Record<string, any>): unknown;
}

/**
 * The application-level codec of one side (docs/PROTOCOL.md §3.1): when set,
 * what `serializer` returns is the payload that goes on the wire, and what
 * arrives is handed to `deserializer` as decoded from its encoding.
 */
export interface PacketCodec {
  readonly serializer?: PacketSerializer;
  readonly deserializer?: PacketDeserializer;
}

function isThenable(v: unknown): boolean {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** Runs the serializer; any failure, or a Promise (unsupported), is `SERIALIZATION`. */
export function serializeWith(serializer: PacketSerializer, value: unknown): unknown {
  let out: unknown;
  try {
    out = serializer.serialize(value);
  } catch (err) {
    throw new ZmqSerializationError(err);
  }
  if (isThenable(out)) throw new ZmqSerializationError('the serializer returned a Promise; return the value itself');
  return out;
}

/** Runs the deserializer; any failure, or a Promise (unsupported), is `SERIALIZATION`. */
export function deserializeWith(
  deserializer: PacketDeserializer,
  value: unknown,
  options?: Record<string, unknown>,
): unknown {
  let out: unknown;
  try {
    out = deserializer.deserialize(value, options);
  } catch (err) {
    throw new ZmqSerializationError(err, 'decode');
  }
  if (isThenable(out)) {
    throw new ZmqSerializationError('the deserializer returned a Promise; return the value itself', 'decode');
  }
  return out;
}

/**
 * A request's or event's data: its payload, or the `data` the user's
 * deserializer finds in it. `msgpack`: the session agreed on MessagePack.
 */
export function incomingData(env: Envelope, deserializer: PacketDeserializer | undefined, msgpack: boolean): unknown {
  const raw = decodePayload(env.encoding, env.payload, env.id, msgpack);
  return deserializer === undefined ? raw : field(deserializeWith(deserializer, raw, { pattern: env.pattern }), 'data');
}

/** A field of a deserialized packet (which may be anything a user's deserializer returned). */
export function field(packet: unknown, key: 'data' | 'response' | 'err'): unknown {
  return typeof packet === 'object' && packet !== null ? (packet as Record<string, unknown>)[key] : undefined;
}
