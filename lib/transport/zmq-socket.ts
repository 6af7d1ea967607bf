/** One zeromq.js socket's writer (EBUSY, batching), reader and close; raw-sockets.ts makes the sockets. */
import { Dealer, Router } from 'zeromq';
import { ZmqQueueFullError } from '../errors/zmq.errors.js';
import { appendEnvelopeFrames, unpackMessage } from '../protocol/batch.js';
import type { Channel } from '../protocol/channel.js';
import { PING } from '../protocol/envelopes.js';
import type { OutEnvelope } from '../protocol/frames.js';
import { ByeProofs } from './bye-proof.js';
import type { DealerCurve, RouterCurve } from './curve-options.js';
import { createDealer, createRouter, ZmqSocketSettings } from './raw-sockets.js';

export type { ZmqSocketSettings } from './raw-sockets.js';

/** Called with the envelopes of a batch that could not be sent. */
export type SendErrorHandler = (envelopes: OutEnvelope[], destination: Buffer | undefined, error: unknown) => void;

type RawSocket = Router | Dealer;

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
  /** ROUTER: the peers told BYE whose answer close() awaits (see {@link ByeProofs}). */
  private readonly byes = new ByeProofs();
  private readonly flushCallback = () => {
    this.scheduled = false;
    void this.flush();
  };

  private constructor(
    readonly raw: RawSocket,
    private readonly settings: ZmqSocketSettings,
    private readonly onSendError: SendErrorHandler,
  ) {}

  /** A ROUTER that reports each peer's connection end (see {@link createRouter}). */
  static router(settings: ZmqSocketSettings, onSendError: SendErrorHandler, curve?: RouterCurve): ZmqSocket {
    return new ZmqSocket(createRouter(settings, curve), settings, onSendError);
  }

  /** A DEALER that reports its connection's end where libzmq can (see {@link createDealer}). */
  static dealer(settings: ZmqSocketSettings, onSendError: SendErrorHandler, curve?: DealerCurve): ZmqSocket {
    const { raw, notices } = createDealer(settings, curve);
    const socket = new ZmqSocket(raw, settings, onSendError);
    socket.notices = notices;
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
          if (destination !== undefined) this.byes.written(batch, destination);
        } catch (err) {
          frames.length = 0;
          this.byes.failed(destination);
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
          const message = unpackMessage(frames, start);
          if (start === 1) this.byes.received(message);
          onMessage(message);
        } catch (err) {
          onError(err);
        }
      }
    };
    loop().catch(onError);
  }

  /**
   * Waits (at most `graceMs`, by default the linger time) for the queue to
   * drain and, on a ROUTER, for each peer told BYE to answer it (at most
   * `graceMs` more, {@link ByeProofs}), then closes the socket. What is still
   * queued after that is dropped; libzmq lingers `linger` ms for what it
   * already holds.
   */
  async close(graceMs = this.settings.linger): Promise<void> {
    if (this.closed) return;
    await this.drained(graceMs);
    if (graceMs > 0) {
      await this.byes.prove(destination => this.trySend(PING, destination), graceMs);
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

  /** Queues a `final` envelope; false when even the reserve is full. */
  private trySend(envelope: OutEnvelope, destination: Buffer): boolean {
    try {
      this.send(envelope, destination, true);
      return true;
    } catch {
      return false;
    }
  }

  /** Waits, at most `graceMs`, until the queue is empty and nothing is being written. */
  private async drained(graceMs: number): Promise<void> {
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
  }
}
