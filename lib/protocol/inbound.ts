import { decodeEnvelope, Envelope, HEADER_FIXED_BYTES, MalformedError, MessageType } from './frames.js';
import { MAX_ENVELOPES_PER_MESSAGE, PROTOCOL_VERSION } from './limits.js';

/**
 * What an {@link InboundDecoder} hands each envelope to. `C` is what the
 * engine keys a message by (a routing id on a server, a link on a client).
 */
export interface InboundHandler<C> {
  /** One well-formed envelope. Return `false` to skip the rest of the message. */
  envelope(from: C, env: Envelope): boolean | void;
  /** One envelope that could not be decoded; `header` is its header frame. */
  malformed(from: C, err: MalformedError, header: Buffer): void;
  /** A whole message with the wrong number of frames. */
  badFrameCount(from: C, frames: number): void;
}

/**
 * Checks the frame layout of a received message: a positive, even number of
 * frames (header + payload pairs), at most {@link MAX_ENVELOPES_PER_MESSAGE}.
 * `start` skips the ROUTER's routing-id frame.
 */
export function checkFrameCount(frames: readonly Buffer[], start: number): boolean {
  const n = frames.length - start;
  return n > 0 && n % 2 === 0 && n / 2 <= MAX_ENVELOPES_PER_MESSAGE;
}

/**
 * Whether a received message (header/payload pairs after `start` frames)
 * holds a BYE: all a closing side still reads (its peer's answer to its BYE).
 */
export function holdsBye(frames: readonly Buffer[], start: number): boolean {
  for (let i = start; i < frames.length; i += 2) {
    const header = frames[i]!;
    if (header.length >= HEADER_FIXED_BYTES && header[0] === PROTOCOL_VERSION && header[1] === MessageType.Bye)
      return true;
  }
  return false;
}

/**
 * The inbound skeleton both engines share (docs/PROTOCOL.md §9): the frame
 * count check, then each header/payload pair decoded in order; a malformed
 * pair never stops the ones after it.
 */
export class InboundDecoder<C> {
  constructor(
    /** Frames before the first pair: 1 for a ROUTER's routing id, else 0. */
    private readonly start: number,
    private readonly maxPayload: number,
    private readonly handler: InboundHandler<C>,
  ) {}

  read(from: C, frames: Buffer[]): void {
    if (!checkFrameCount(frames, this.start)) {
      this.handler.badFrameCount(from, frames.length);
      return;
    }
    for (let i = this.start; i < frames.length; i += 2) {
      let env: Envelope;
      try {
        env = decodeEnvelope(frames[i]!, frames[i + 1]!, this.maxPayload);
      } catch (err) {
        if (!(err instanceof MalformedError)) throw err;
        this.handler.malformed(from, err, frames[i]!);
        continue;
      }
      if (this.handler.envelope(from, env) === false) return;
    }
  }
}
