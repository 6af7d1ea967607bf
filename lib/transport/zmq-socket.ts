/** zeromq.js sockets (lib/transport/ alone imports `zeromq`): options, EBUSY, close, the writer and reader. */
import { Dealer, Router } from 'zeromq';
import { ZmqQueueFullError } from '../errors/zmq.errors.js';
import { appendEnvelopeFrames, unpackMessage } from '../protocol/batch.js';
import type { Channel } from '../protocol/channel.js';
import type { OutEnvelope } from '../protocol/frames.js';
import { DealerCurve, dealerCurveOptions, RouterCurve, routerCurveOptions } from './curve-options.js';

export interface ZmqSocketSettings {
  linger: number;
  sendHighWaterMark: number;
  receiveHighWaterMark: number;
  /** Largest frame libzmq accepts before it drops the connection; -1 for none. */
  maxFrameSize: number;
  /** ROUTER only: ms a send to a full peer may block; see DEFAULT_SEND_TIMEOUT. */
  sendTimeout?: number;
  /** DEALER only: first and longest wait between reconnect tries, in ms. */
  reconnectInterval?: number;
  reconnectMaxInterval?: number;
  /** DEALER only: connect to IPv6 addresses too. */
  ipv6?: boolean;
  queueLimit: number;
  maxBatch: number;
  /** Queued envelopes at which a send starts the writer at once (EARLY_FLUSH_ENVELOPES). */
  earlyFlush: number;
  maxBatchBytes: number;
}

/** Called with the envelopes of a batch that could not be sent. */
export type SendErrorHandler = (envelopes: OutEnvelope[], destination: Buffer | undefined, error: unknown) => void;

type RawSocket = Router | Dealer;

/** libzmq's ZMQ_ROUTER_NOTIFY socket option and its disconnect bit (zmq_draft.h). */
const ZMQ_ROUTER_NOTIFY = 97;
const ZMQ_NOTIFY_DISCONNECT = 2;

/**
 * libzmq's ZMQ_HICCUP_MSG socket option (zmq_draft.h): a DEALER whose
 * connection is interrupted receives this message from its own socket, at
 * once. No server message has one frame (they are header/payload pairs), so
 * it cannot be mistaken for one.
 */
const ZMQ_HICCUP_MSG = 114;
export const HICCUP_NOTICE = Buffer.from('\u0000nestjs-zeromq/connection-lost');

/** zeromq.js's raw option setters (typed protected; public at run time). */
interface RawOptions {
  setInt32Option(option: number, value: number): void;
  setStringOption(option: number, value: string | Buffer): void;
}

/**
 * One ZeroMQ socket with one writer and one reader.
 *
 * zeromq.js rejects a second concurrent `send()` with EBUSY, so every write
 * goes through a bounded queue drained by a single loop. The loop coalesces
 * consecutive envelopes for the same destination into one multipart message
 * (header, payload, header, payload, ...), which is what makes many requests
 * in flight cheap.
 */
export class ZmqSocket implements Channel {
  /** The queue: envelopes and (ROUTER) their destinations, side by side (no object per envelope). */
  private queue: OutEnvelope[] = [];
  private destinations: Array<Buffer | undefined> = [];
  /** Reused by every flush: the envelopes of the message being built, and its frames. */
  private readonly batch: OutEnvelope[] = [];
  private readonly frames: Array<Buffer | string> = [];
  private head = 0;
  private scheduled = false;
  private writing = false;
  private closed = false;
  /** A DEALER that reports its connection's end (ZMQ_HICCUP_MSG was accepted). */
  notices = false;
  /** Envelopes of the batch `raw.send()` is writing now. */
  private sending = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly closeHooks: Array<() => void> = [];
  private readonly flushCallback = () => {
    this.scheduled = false;
    void this.flush();
  };

  private constructor(
    readonly raw: RawSocket,
    private readonly settings: ZmqSocketSettings,
    private readonly onSendError: SendErrorHandler,
  ) {}

  /** A ROUTER: `mandatory` so an unroutable send fails instead of vanishing. */
  static router(settings: ZmqSocketSettings, onSendError: SendErrorHandler, curve?: RouterCurve): ZmqSocket {
    const raw = new Router({
      ...(curve !== undefined ? routerCurveOptions(curve) : {}),
      linger: settings.linger,
      sendHighWaterMark: settings.sendHighWaterMark,
      receiveHighWaterMark: settings.receiveHighWaterMark,
      maxMessageSize: settings.maxFrameSize,
      mandatory: true,
      sendTimeout: settings.sendTimeout ?? -1,
    });
    try {
      // ZMQ_ROUTER_NOTIFY (draft API): a peer's connection end arrives at once as [routing id, empty frame].
      (raw as unknown as RawOptions).setInt32Option(ZMQ_ROUTER_NOTIFY, ZMQ_NOTIFY_DISCONNECT);
    } catch {
      // a libzmq without draft APIs: heartbeats find dead peers
    }
    return new ZmqSocket(raw, settings, onSendError);
  }

  /**
   * A DEALER that learns at once when its connection ends (ZMQ_HICCUP_MSG).
   * Not `immediate`: libzmq drops the hiccup of a pipe it attaches only while
   * connected. So what is queued while the connection is down waits in the
   * pipe and goes to whichever server answers next; the session layer copes
   * (a REQUEST without a session is refused NOT_READY, never run). libzmq
   * reconnects with capped exponential backoff.
   */
  static dealer(settings: ZmqSocketSettings, onSendError: SendErrorHandler, curve?: DealerCurve): ZmqSocket {
    const raw = new Dealer({
      ...(curve !== undefined ? dealerCurveOptions(curve) : {}),
      linger: settings.linger,
      sendHighWaterMark: settings.sendHighWaterMark,
      receiveHighWaterMark: settings.receiveHighWaterMark,
      maxMessageSize: settings.maxFrameSize,
      ...(settings.ipv6 === true ? { ipv6: true } : {}),
      ...(settings.reconnectInterval !== undefined ? { reconnectInterval: settings.reconnectInterval } : {}),
      ...(settings.reconnectMaxInterval !== undefined ? { reconnectMaxInterval: settings.reconnectMaxInterval } : {}),
    });
    const socket = new ZmqSocket(raw, settings, onSendError);
    try {
      (raw as unknown as RawOptions).setStringOption(ZMQ_HICCUP_MSG, HICCUP_NOTICE);
      socket.notices = true;
    } catch {
      // a libzmq without draft APIs: heartbeats find dead servers
    }
    return socket;
  }

  /** Binds and returns the resolved endpoint (a `*` port replaced by the real one). */
  async bind(endpoint: string): Promise<string> {
    await this.raw.bind(endpoint);
    return this.raw.lastEndpoint ?? endpoint;
  }

  /** Runs `fn` once the socket is closed (e.g. to release the ZAP handler it used). */
  onClosed(fn: () => void): void {
    if (this.closed) fn();
    else this.closeHooks.push(fn);
  }

  connect(endpoint: string): void {
    this.raw.connect(endpoint);
  }

  /** Envelopes waiting to be written, the batch being written included (until libzmq has taken it). */
  get queued(): number {
    return this.queue.length - this.head + this.sending;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Queues an envelope (for a ROUTER, to `destination`). Throws
   * {@link ZmqQueueFullError} when `queueLimit` envelopes are already waiting;
   * a `final` one (the last of a call: END, ERROR, CANCEL, BYE) may use a
   * reserve of as many again, so that a call the limit cut short can still be
   * ended on both sides instead of going silent.
   */
  send(envelope: OutEnvelope, destination?: Buffer, final = false): void {
    const limit = final ? 2 * this.settings.queueLimit : this.settings.queueLimit;
    if (this.queue.length - this.head >= limit) {
      throw new ZmqQueueFullError(this.settings.queueLimit);
    }
    this.queue.push(envelope);
    this.destinations.push(destination);
    if (this.writing) return;
    if (this.queue.length - this.head >= this.settings.earlyFlush) {
      void this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      // Sends mostly happen in promise callbacks; a tick queued from there runs
      // once the whole microtask cascade has drained, so every envelope it
      // produced joins the same batch.
      process.nextTick(this.flushCallback);
    }
  }

  private async flush(): Promise<void> {
    if (this.writing || this.closed) return;
    this.writing = true;
    const { maxBatch, maxBatchBytes } = this.settings;
    try {
      while (this.head < this.queue.length && !this.closed) {
        const { batch, frames } = this;
        const destination = this.destinations[this.head];
        let bytes = 0;
        while (this.head < this.queue.length && batch.length < maxBatch && bytes < maxBatchBytes) {
          if (this.destinations[this.head] !== destination) break;
          const envelope = this.queue[this.head]!;
          bytes += envelope.payload.length;
          batch.push(envelope);
          this.queue[this.head] = undefined as unknown as OutEnvelope;
          this.destinations[this.head] = undefined;
          this.head++;
        }
        this.compact();
        if (destination !== undefined) frames.push(destination);
        appendEnvelopeFrames(batch, frames);
        this.sending = batch.length;
        try {
          // zeromq.js reads the frames during the call (a send that must wait keeps its own copy): reusable after
          // it. The call itself may throw (a closed socket): the catch below takes that too.
          const sent = this.raw.send(frames);
          frames.length = 0;
          await sent;
        } catch (err) {
          frames.length = 0;
          if (this.closed) break;
          this.onSendError(batch.slice(), destination, err);
        } finally {
          this.sending = 0;
          batch.length = 0;
        }
      }
    } finally {
      this.writing = false;
      if (this.head >= this.queue.length) this.notifyIdle();
    }
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.destinations.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.destinations = this.destinations.slice(this.head);
      this.head = 0;
    }
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Runs `onMessage` for every received message until the socket closes.
   * Exceptions from `onMessage` are passed to `onError`; the loop goes on.
   */
  startReceiving(onMessage: (frames: Buffer[]) => void, onError: (err: unknown) => void): void {
    // BATCH envelopes are unpacked here: the layers above see header/payload pairs only.
    const start = this.raw instanceof Router ? 1 : 0;
    const loop = async () => {
      while (!this.closed) {
        let frames: Buffer[];
        try {
          frames = await this.raw.receive();
        } catch (err) {
          if (this.closed || this.raw.closed) return;
          onError(err);
          continue;
        }
        try {
          onMessage(unpackMessage(frames, start));
        } catch (err) {
          onError(err);
        }
      }
    };
    loop().catch(onError);
  }

  /**
   * Waits (at most `graceMs`, by default the linger time) for the queue to
   * drain, then closes the socket. What is still queued after that is dropped;
   * libzmq lingers `linger` ms for what it already holds.
   */
  async close(graceMs = this.settings.linger): Promise<void> {
    if (this.closed) return;
    if (graceMs > 0 && (this.queued > 0 || this.writing)) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
        if (!this.scheduled && !this.writing) void this.flush();
      });
    }
    this.closed = true;
    this.queue = [];
    this.destinations = [];
    this.head = 0;
    this.notifyIdle();
    // Never rejects: callers close from teardown paths nobody awaits.
    try {
      this.raw.close();
    } catch {
      // already closed
    }
    for (const fn of this.closeHooks.splice(0)) fn();
  }
}
