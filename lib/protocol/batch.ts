/**
 * BATCH (docs/PROTOCOL.md §2.1): runs of small envelopes packed into one
 * header/payload pair on send, unpacked in place on receipt.
 */
import { MAX_ENVELOPES_PER_MESSAGE, PROTOCOL_VERSION } from './limits.js';
import {
  Encoding,
  encodeHeader,
  HEADER_FIXED_BYTES,
  headerLength,
  MessageType,
  OutEnvelope,
  writeHeader,
} from './frames.js';

/**
 * Header frame of every BATCH (docs/PROTOCOL.md §2.1): version, type 12, no
 * flags, encoding RAW, id 0, no pattern. Shared: zeromq.js copies frames this small.
 */
export const BATCH_HEADER: Buffer = Buffer.from([
  PROTOCOL_VERSION,
  MessageType.Batch,
  0,
  Encoding.Raw,
  0,
  0,
  0,
  0,
  0,
  0,
]);

/** Bytes a packed envelope takes in a BATCH payload besides its header and payload. */
const RECORD_OVERHEAD = 2 + 4;

/**
 * Packs `envs[from..to)` into one BATCH payload frame: for each envelope, a
 * u16 header length, the header, a u32 payload length and the payload.
 */
export function packEnvelopes(envs: readonly OutEnvelope[], from = 0, to = envs.length): Buffer {
  let size = 0;
  for (let i = from; i < to; i++) {
    const { payload } = envs[i]!;
    size +=
      RECORD_OVERHEAD +
      headerLength(envs[i]!) +
      (typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length);
  }
  const buf = Buffer.allocUnsafe(size);
  let offset = 0;
  for (let i = from; i < to; i++) {
    const env = envs[i]!;
    const start = offset;
    offset = writeHeader(env, buf, offset + 2);
    buf.writeUInt16BE(offset - start - 2, start);
    const written =
      typeof env.payload === 'string' ? buf.write(env.payload, offset + 4, 'utf8') : env.payload.copy(buf, offset + 4);
    buf.writeUInt32BE(written, offset);
    offset += 4 + written;
  }
  return buf;
}

/**
 * Payloads up to this size (in UTF-16 units for a string) are copied into a
 * BATCH when several envelopes leave together: a copy of a few KiB costs less
 * than a ZeroMQ frame. Larger payloads keep a frame of their own.
 */
export const PACK_MAX_PAYLOAD = 8 * 1024;

/**
 * Appends the frames of envelopes leaving in one message to `frames`: each
 * run of two or more envelopes with payloads up to PACK_MAX_PAYLOAD as one
 * BATCH, every other envelope as its header/payload pair. Order is kept.
 */
export function appendEnvelopeFrames(envs: readonly OutEnvelope[], frames: Array<Buffer | string>): void {
  let i = 0;
  while (i < envs.length) {
    let end = i;
    while (end < envs.length && envs[end]!.payload.length <= PACK_MAX_PAYLOAD) end++;
    if (end - i >= 2) {
      frames.push(BATCH_HEADER, packEnvelopes(envs, i, end));
      i = end;
    } else {
      const env = envs[i++]!;
      frames.push(encodeHeader(env), env.payload);
    }
  }
}

function isBatchHeader(header: Buffer): boolean {
  return header.length === HEADER_FIXED_BYTES && header[1] === MessageType.Batch && header.equals(BATCH_HEADER);
}

/**
 * Appends the header and payload frames packed in a BATCH payload to `out`,
 * at most `budget` envelopes. Returns false, having appended nothing, when
 * the payload is truncated, has trailing bytes or holds more than `budget`.
 */
function unpackBatch(payload: Buffer, out: Buffer[], budget: number): boolean {
  const mark = out.length;
  let offset = 0;
  while (offset < payload.length) {
    if (offset + 2 > payload.length || (out.length - mark) / 2 >= budget) break;
    const headerEnd = offset + 2 + payload.readUInt16BE(offset);
    if (headerEnd + 4 > payload.length) break;
    const payloadEnd = headerEnd + 4 + payload.readUInt32BE(headerEnd);
    if (payloadEnd > payload.length) break;
    out.push(payload.subarray(offset + 2, headerEnd), payload.subarray(headerEnd + 4, payloadEnd));
    offset = payloadEnd;
  }
  if (offset === payload.length && out.length > mark) return true;
  out.length = mark;
  return false;
}

/**
 * Replaces every well-formed BATCH envelope of a received message by the
 * envelopes packed in it, in place, so that the result is the plain
 * header/payload layout. `start` skips a ROUTER's routing-id frame. Returns
 * `frames` itself when there is nothing to unpack (or the frame count is odd:
 * the message is dropped whole anyway). A BATCH that is malformed, or would
 * take the message past MAX_ENVELOPES_PER_MESSAGE, is left as it is, to be
 * dropped and counted by the receiver (as an unknown type).
 */
export function unpackMessage(frames: Buffer[], start: number): Buffer[] {
  if ((frames.length - start) % 2 !== 0) return frames;
  let out: Buffer[] | undefined;
  for (let i = start; i < frames.length; i += 2) {
    const header = frames[i]!;
    if (isBatchHeader(header)) {
      out ??= frames.slice(0, i);
      const budget = MAX_ENVELOPES_PER_MESSAGE - (out.length - start) / 2 - (frames.length - i) / 2 + 1;
      if (unpackBatch(frames[i + 1]!, out, budget)) continue;
    }
    out?.push(header, frames[i + 1]!);
  }
  return out ?? frames;
}
