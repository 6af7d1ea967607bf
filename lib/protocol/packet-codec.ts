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
 * The application-level codec of one side (docs/PROTOCOL.md §3.3): when set,
 * what `serializer` returns is the payload that goes on the wire, and what
 * arrives is handed to `deserializer` as decoded from its encoding.
 */
export interface PacketCodec {
  readonly serializer?: PacketSerializer;
  readonly deserializer?: PacketDeserializer;
}

/**
 * The feature a client offers when it sends its packets through a
 * `serializer` (docs/PROTOCOL.md §3.3, §4.4); a server takes it only with a
 * `deserializer`, and refuses a client that offers it otherwise: its handlers
 * would get the serialized packet instead of the data.
 */
export const SERIALIZER_FEATURE = 'serializer';

/** The refusal of a client whose `serializer` a server without a `deserializer` cannot read. */
export const SERIALIZER_REFUSAL =
  'This client sends its packets through a "serializer" and this server has no "deserializer": set the matching serializer / deserializer pair on both sides';

/**
 * The feature a client offers when it has no `deserializer`: it reads each
 * reply payload as the value itself. A server takes it only without a
 * `serializer`, and refuses a client that offers it otherwise: its callers
 * would get the serialized packet instead of the value.
 */
export const PLAIN_REPLIES_FEATURE = 'plain-replies';

/** The refusal of a client without a `deserializer` by a server whose replies go through a `serializer`. */
export const PLAIN_REPLIES_REFUSAL =
  'This server sends its replies through a "serializer" and this client has no "deserializer": set the matching serializer / deserializer pair on both sides';

/** The features of a side's codec a client offers, or a server accepts (§4.4). */
export function codecFeatures(codec: Readonly<PacketCodec> | undefined, side: 'client' | 'server'): string[] {
  const reads = side === 'client' ? codec?.serializer !== undefined : codec?.deserializer !== undefined;
  const plain = side === 'client' ? codec?.deserializer === undefined : codec?.serializer === undefined;
  return [...(reads ? [SERIALIZER_FEATURE] : []), ...(plain ? [PLAIN_REPLIES_FEATURE] : [])];
}

/** Why a server with `features` refuses a HELLO offering `offered`, when their codecs do not match. */
export function codecRefusal(offered: readonly string[] | undefined, features: readonly string[]): string | undefined {
  const mismatch = (feature: string) => offered?.includes(feature) === true && !features.includes(feature);
  if (mismatch(SERIALIZER_FEATURE)) return SERIALIZER_REFUSAL;
  if (mismatch(PLAIN_REPLIES_FEATURE)) return PLAIN_REPLIES_REFUSAL;
  return undefined;
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
  if (deserializer === undefined) return raw;
  const packet = deserializeWith(deserializer, raw, { pattern: env.pattern });
  if (!hasAnyField(packet, REQUEST_FIELDS)) {
    throw new ZmqSerializationError(
      'the deserializer found no packet ({ pattern, data }) in the payload: does the client set a "serializer" too?',
      'decode',
    );
  }
  return field(packet, 'data');
}

/**
 * What the user's deserializer finds in a reply payload: its `response` and
 * `err`. A payload that holds no packet (`{ id, response }` / `{ id, err }`)
 * is SERIALIZATION, the sign of a server without a `serializer`: the call
 * fails with a code rather than complete without a value.
 */
export function replyPacket(deserializer: PacketDeserializer, payload: unknown): { response: unknown; err: unknown } {
  const packet = deserializeWith(deserializer, payload);
  if (!hasAnyField(packet, REPLY_FIELDS)) {
    throw new ZmqSerializationError(
      'the deserializer found no packet ({ id, response } or { id, err }) in the reply: does the server set a "serializer" too?',
      'decode',
    );
  }
  return { response: field(packet, 'response'), err: field(packet, 'err') };
}

const REQUEST_FIELDS = ['pattern', 'data', 'id'] as const;
const REPLY_FIELDS = ['id', 'response', 'err', 'isDisposed'] as const;

function hasAnyField(packet: unknown, keys: readonly string[]): boolean {
  return typeof packet === 'object' && packet !== null && keys.some(k => Object.hasOwn(packet, k));
}

/** A field of a deserialized packet (which may be anything a user's deserializer returned). */
export function field(packet: unknown, key: 'data' | 'response' | 'err'): unknown {
  return typeof packet === 'object' && packet !== null ? (packet as Record<string, unknown>)[key] : undefined;
}
