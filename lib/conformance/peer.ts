/**
 * The kit's sockets: a DEALER (to judge a server) or a ROUTER (to judge a
 * client), each with a bounded inbox of what arrived and bounded waits on it.
 */
import { createDealer, createRouter, type ZmqSocketSettings } from '../transport/raw-sockets.js';
import type { DealerCurve, RouterCurve } from '../transport/curve-options.js';
import { EMPTY, header, type Pair, read, type Seen, T, unpack } from './wire.js';

const SETTINGS: ZmqSocketSettings = {
  linger: 0,
  sendHighWaterMark: 10_000,
  receiveHighWaterMark: 10_000,
  maxFrameSize: -1,
  sendTimeout: 1_000,
  reconnectInterval: 100,
  reconnectMaxInterval: 1_000,
  queueLimit: 10_000,
  maxBatch: 256,
  earlyFlush: 32,
  maxBatchBytes: 1 << 20,
};

/** Most envelopes an inbox keeps; a peer that floods the kit is judged on the first ones. */
const MAX_INBOX = 100_000;

/** Thrown when a bounded wait ends with nothing that matches. */
export class WaitTimeout extends Error {}

/** One received envelope and the connection (routing id, ROUTER only) it came on. */
export interface Arrival {
  from: string;
  routingId: Buffer | undefined;
  env: Seen;
}

interface RawLike {
  send(frames: Buffer[]): Promise<void>;
  receive(): Promise<Buffer[]>;
  close(): void;
  readonly closed: boolean;
}

export class KitSocket {
  private readonly inbox: Arrival[] = [];
  private readonly waiters = new Set<() => void>();
  /** Every message that broke the framing rules (§2), as seen. */
  readonly badMessages: string[] = [];
  /** Messages of exactly one empty frame that were not a connection-end notice. */
  loneEmptyFrames = 0;
  private sending: Promise<void> = Promise.resolve();

  private constructor(
    private readonly raw: RawLike,
    private readonly start: number,
    /** Answer every PING with PONG at once (W-27), as a peer of the judged side must. */
    private readonly autoPong: boolean,
  ) {
    void this.loop();
  }

  static dealer(endpoint: string, curve?: DealerCurve): KitSocket {
    const { raw } = createDealer(SETTINGS, curve);
    raw.connect(endpoint);
    return new KitSocket(raw as unknown as RawLike, 0, true);
  }

  static async router(endpoint: string, curve?: RouterCurve): Promise<{ socket: KitSocket; endpoint: string }> {
    const raw = createRouter(SETTINGS, curve);
    await raw.bind(endpoint);
    return { socket: new KitSocket(raw as unknown as RawLike, 1, false), endpoint: raw.lastEndpoint ?? endpoint };
  }

  private async loop(): Promise<void> {
    while (!this.raw.closed) {
      let frames: Buffer[];
      try {
        frames = await this.raw.receive();
      } catch {
        if (this.raw.closed) return;
        continue;
      }
      this.take(frames);
    }
  }

  private take(frames: Buffer[]): void {
    const routingId = this.start === 1 ? frames[0] : undefined;
    const from = routingId?.toString('hex') ?? '';
    // A one-frame message at a DEALER is its own connection-end notice; [id, empty] at a ROUTER the peer's.
    if (frames.length - this.start === 1) {
      if (this.start === 1 && frames[1]!.length === 0) return;
      if (this.start === 0) return;
    }
    const pairs = unpack(frames, this.start);
    if (typeof pairs === 'string') {
      this.badMessages.push(pairs);
      return;
    }
    for (const pair of pairs) {
      if (this.inbox.length >= MAX_INBOX) break;
      const env = read(pair);
      this.inbox.push({ from, routingId, env });
      if (this.autoPong && env.type === T.PING && env.version === 1)
        void this.send([[header(T.PONG), EMPTY]]).catch(() => {});
    }
    for (const w of [...this.waiters]) w();
  }

  /** Sends one message of `pairs` (to `routingId` on a ROUTER), in order with every other send. */
  send(pairs: Pair[], routingId?: Buffer): Promise<void> {
    return this.sendFrames(pairs.flat(), routingId);
  }

  /** Sends raw frames as one message (after the routing id on a ROUTER). */
  sendFrames(frames: Buffer[], routingId?: Buffer): Promise<void> {
    const message = routingId !== undefined ? [routingId, ...frames] : frames;
    this.sending = this.sending.then(
      () => this.raw.send(message),
      () => this.raw.send(message),
    );
    return this.sending;
  }

  /** Everything received so far, in order. */
  get received(): readonly Arrival[] {
    return this.inbox;
  }

  /**
   * The first arrival after index `from` that `match` accepts; waits at most
   * `ms` for it. Rejects with {@link WaitTimeout} naming `what`.
   */
  next(match: (a: Arrival) => boolean, ms: number, what: string, from = 0): Promise<Arrival> {
    return new Promise((resolve, reject) => {
      let scanned = from;
      const check = (): boolean => {
        for (; scanned < this.inbox.length; scanned++) {
          const a = this.inbox[scanned]!;
          if (match(a)) {
            done();
            resolve(a);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new WaitTimeout(`no ${what} within ${ms} ms`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      if (!check()) this.waiters.add(check);
    });
  }

  /** Index of the next arrival: a mark to wait or look from. */
  get mark(): number {
    return this.inbox.length;
  }

  close(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
    try {
      this.raw.close();
    } catch {
      // already closed
    }
  }
}

/** A PING pair (§3). */
export const PING: Pair = [header(T.PING), EMPTY];
