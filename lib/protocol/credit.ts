/**
 * Flow control on the wire (docs/PROTOCOL.md §6, §6.1): the `credit`
 * feature, the window each side announces in its handshake, the CREDIT
 * envelope.
 */
import { Encoding, MessageType, OutEnvelope } from './frames.js';
import { hasFeature, Hello, MAX_WINDOW } from './handshake.js';

/**
 * The feature of a side that takes credit: a streamed reply (and a streamed
 * request) carries at most the receiver's window of values it has not granted.
 */
export const CREDIT_FEATURE = 'credit';

/** A CREDIT envelope granting `n` (1 to MAX_WINDOW) more values on the stream of call `id`. */
export function creditEnvelope(id: number, n: number): OutEnvelope {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(n, 0);
  return {
    type: MessageType.Credit,
    flags: 0,
    encoding: Encoding.Raw,
    id,
    pattern: undefined,
    metadata: undefined,
    deadline: undefined,
    payload,
  };
}

/** The grant of a CREDIT payload the decoder accepted (4 bytes, ≥ 1). */
export function grantOf(payload: Buffer): number {
  return Math.min(payload.readUInt32BE(0), MAX_WINDOW);
}

/**
 * The peer's window when its handshake took `credit` and announced one;
 * `undefined` (no flow control, the 1.0 behaviour) otherwise.
 */
export function peerWindow(handshake: Hello): number | undefined {
  if (!hasFeature(handshake, CREDIT_FEATURE)) return undefined;
  return handshake.window;
}

/**
 * The receiving side of one stream under credit (docs/PROTOCOL.md §6): it
 * counts the values its subscriber has taken and says when to grant them
 * back, once per half window (not per value).
 */
export class GrantCounter {
  private taken = 0;

  constructor(
    /** This side's window (`streamWindow`): the sender's first credit. */
    readonly window: number,
  ) {}

  /** Values taken and not granted back yet. */
  get pending(): number {
    return this.taken;
  }

  /**
   * The subscriber took one value. Returns the grant to send now: the values
   * taken since the last grant once they reach half the window, else 0.
   */
  take(): number {
    this.taken++;
    if (this.taken * 2 < this.window) return 0;
    const grant = this.taken;
    this.taken = 0;
    return grant;
  }
}
