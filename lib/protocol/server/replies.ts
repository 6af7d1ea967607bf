import { ZmqErrorCode } from '../../errors/zmq.errors.js';
import { controlEnvelope, dataEnvelope, errorEnvelope } from '../envelopes.js';
import { Flag, MessageType, OutEnvelope } from '../frames.js';
import type { MalformedError } from '../frames.js';
import { PacketSerializer, serializeWith } from '../packet-codec.js';

/**
 * Builds a server's reply envelopes. With a user `serializer`, every CHUNK
 * and ERROR payload of a request is what it returns for Nest's outgoing
 * response (`{ id, response, isDisposed }` or `{ id, err }`), as in Nest's own
 * transports; without one, the value itself.
 */
export class ReplyEncoder {
  /** The code of the last value that could not be encoded (what its ERROR reply carries). */
  failureCode: string = ZmqErrorCode.SERIALIZATION;

  constructor(
    private readonly maxPayload: number,
    private readonly serializer: PacketSerializer | undefined,
    private readonly onEncodeError: (id: number, err: Error) => void,
  ) {}

  /**
   * A CHUNK for `value` (END for an `undefined` last value), or an ERROR
   * when the value cannot go on the wire (`SERIALIZATION`, `TOO_LARGE`).
   */
  value(id: number, value: unknown, flags: number, msgpack = false): OutEnvelope {
    const last = (flags & Flag.End) !== 0;
    if (value === undefined && last) return controlEnvelope(MessageType.End, id);
    try {
      const payload =
        this.serializer === undefined
          ? value
          : serializeWith(this.serializer, { id, response: value, ...(last ? { isDisposed: true } : {}) });
      return dataEnvelope(MessageType.Chunk, id, payload, this.maxPayload, flags, undefined, undefined, msgpack);
    } catch (err) {
      this.onEncodeError(id, err as Error);
      const code = (err as { code?: string }).code ?? ZmqErrorCode.SERIALIZATION;
      this.failureCode = code;
      return errorEnvelope(id, { status: 'error', code, message: (err as Error).message });
    }
  }

  /** An ERROR carrying `err`; never throws (a serializer that fails gives way to the plain form). */
  error(id: number, err: unknown): OutEnvelope {
    if (this.serializer !== undefined) {
      try {
        return dataEnvelope(MessageType.Error, id, serializeWith(this.serializer, { id, err }), this.maxPayload);
      } catch (cause) {
        this.onEncodeError(id, cause as Error);
      }
    }
    return errorEnvelope(id, err);
  }
}

/** The error a server sends for a request it could not decode: TOO_LARGE when only its size is wrong, else MALFORMED. */
export function malformedRequest(reason: string, kind?: MalformedError['reason']): object {
  if (kind === 'oversized') {
    // The request is well-formed, only larger than this server takes: the caller's fix is its size, not its encoding.
    return {
      status: 'error',
      code: ZmqErrorCode.TOO_LARGE,
      message: `Request too large for this server: ${reason} (the server's maxPayloadSize)`,
    };
  }
  return { status: 'error', code: ZmqErrorCode.MALFORMED, message: `Malformed request: ${reason}` };
}

/**
 * The error a server sends for a request whose data it could not decode: a
 * `deserializer`'s failure keeps its code (SERIALIZATION: the two sides'
 * serializers do not match), anything else is MALFORMED.
 */
export function undecodableRequest(err: unknown): object {
  const message = err instanceof Error ? err.message : String(err);
  if ((err as { code?: unknown } | null)?.code === ZmqErrorCode.SERIALIZATION) {
    return { status: 'error', code: ZmqErrorCode.SERIALIZATION, message };
  }
  return malformedRequest(message);
}
