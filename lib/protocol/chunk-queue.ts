import { Encoding, Flag, MessageType, OutEnvelope } from './frames.js';

/** Encoded bytes of a payload. */
export function payloadSize(payload: Buffer | string): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
}

/**
 * What one queued value costs beyond its payload bytes (the array slots and
 * the string or Buffer object): a buffer limit counts it, so a stream of tiny
 * values is bounded by what it really holds.
 */
export const QUEUED_VALUE_OVERHEAD = 48;

/** What a queued payload counts against a buffer limit. */
export function queuedCost(payload: Buffer | string): number {
  return payloadSize(payload) + QUEUED_VALUE_OVERHEAD;
}

/**
 * The CHUNKs of one stream waiting for credit, kept as bare payloads and
 * encodings (a million small values cost a few tens of MiB, not an envelope
 * object each); the envelope is built again when one is taken.
 */
export class ChunkQueue {
  private payloads: Array<Buffer | string> = [];
  private encodings: Encoding[] = [];
  private head = 0;
  /** The last queued chunk carries flag END (the stream completed behind it). */
  private lastEnds = false;
  /** What the queued values hold: their payload bytes and {@link QUEUED_VALUE_OVERHEAD} each. */
  bytes = 0;

  constructor(private readonly id: number) {}

  get length(): number {
    return this.payloads.length - this.head;
  }

  push(env: OutEnvelope, size: number): void {
    this.payloads.push(env.payload);
    this.encodings.push(env.encoding);
    this.bytes += size;
  }

  /** The stream completed: the last queued chunk becomes CHUNK+END; false when none is queued. */
  endOnLast(): boolean {
    if (this.length === 0) return false;
    this.lastEnds = true;
    return true;
  }

  /** The oldest queued chunk as an envelope (flag END when it is the last of a completed stream). */
  shift(): OutEnvelope {
    const payload = this.payloads[this.head]!;
    const encoding = this.encodings[this.head]!;
    this.payloads[this.head] = '';
    this.head++;
    this.bytes -= queuedCost(payload);
    const flags = this.lastEnds && this.length === 0 ? Flag.End : 0;
    const env: OutEnvelope = {
      type: MessageType.Chunk,
      flags,
      encoding,
      id: this.id,
      pattern: undefined,
      metadata: undefined,
      deadline: undefined,
      payload,
    };
    this.compact();
    return env;
  }

  clear(): void {
    this.payloads = [];
    this.encodings = [];
    this.head = 0;
    this.bytes = 0;
  }

  private compact(): void {
    if (this.head === this.payloads.length) {
      this.clear();
    } else if (this.head > 1024 && this.head * 2 > this.payloads.length) {
      this.payloads = this.payloads.slice(this.head);
      this.encodings = this.encodings.slice(this.head);
      this.head = 0;
    }
  }
}
