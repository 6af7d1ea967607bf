import { dataEnvelope } from '../envelopes.js';
import { Flag, MessageType, OutEnvelope } from '../frames.js';
import { PacketSerializer, serializeWith } from '../packet-codec.js';
import { PatternCache } from './pattern-cache.js';

/**
 * Builds a client's REQUEST and EVENT envelopes: the pattern encoded once
 * (cached), the payload through the user's `serializer` when there is one,
 * and MessagePack for a server whose session took it. Throws what the
 * encoding throws (SERIALIZATION, TOO_LARGE, a pattern too long).
 */
export class RequestEncoder {
  private readonly patterns = new PatternCache();

  constructor(
    private readonly maxPayload: number,
    private readonly serializer: PacketSerializer | undefined,
  ) {}

  /** A REQUEST; `deadline` is the caller's wait in ms for a server that took deadlines, else undefined. */
  request(
    id: number,
    pattern: string,
    data: unknown,
    metadata: Buffer | undefined,
    msgpack: boolean,
    deadline: number | undefined,
  ): OutEnvelope {
    const bytes = this.patterns.bytes(pattern);
    const payload = this.serializer === undefined ? data : serializeWith(this.serializer, { pattern, data, id });
    const env = dataEnvelope(MessageType.Request, id, payload, this.maxPayload, 0, bytes, metadata, msgpack);
    if (deadline !== undefined) env.deadline = deadline;
    return env;
  }

  /**
   * The REQUEST of a request stream (flag STREAM, §6.1): no payload, whatever
   * the serializer; the data follows as {@link chunk}s.
   */
  streamRequest(id: number, pattern: string, metadata: Buffer | undefined, deadline: number | undefined): OutEnvelope {
    const env = dataEnvelope(
      MessageType.Request,
      id,
      undefined,
      this.maxPayload,
      Flag.Stream,
      this.patterns.bytes(pattern),
      metadata,
    );
    if (deadline !== undefined) env.deadline = deadline;
    return env;
  }

  /** One value of a request stream: a CHUNK on the call's id, encoded as a request's data is. */
  chunk(id: number, pattern: string, value: unknown, msgpack: boolean): OutEnvelope {
    const payload =
      this.serializer === undefined ? value : serializeWith(this.serializer, { pattern, data: value, id });
    return dataEnvelope(MessageType.Chunk, id, payload, this.maxPayload, 0, undefined, undefined, msgpack);
  }

  /**
   * The EVENT for each of `targets`, by whether it took MessagePack: at most
   * two envelopes are built whatever the number of targets.
   */
  events<T extends { readonly msgpack: boolean }>(
    targets: readonly T[],
    pattern: string,
    data: unknown,
    metadata: Buffer | undefined,
  ): Array<[T, OutEnvelope]> {
    const bytes = this.patterns.bytes(pattern);
    const payload = this.serializer === undefined ? data : serializeWith(this.serializer, { pattern, data });
    let json: OutEnvelope | undefined;
    let msgpack: OutEnvelope | undefined;
    return targets.map(target => {
      const env = target.msgpack
        ? (msgpack ??= dataEnvelope(MessageType.Event, 0, payload, this.maxPayload, 0, bytes, metadata, true))
        : (json ??= dataEnvelope(MessageType.Event, 0, payload, this.maxPayload, 0, bytes, metadata));
      return [target, env];
    });
  }
}
