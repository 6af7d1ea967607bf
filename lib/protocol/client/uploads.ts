import { isObservable, Observable } from 'rxjs';
import { ZmqStreamUnsupportedError } from '../../errors/zmq.errors.js';
import { controlEnvelope } from '../envelopes.js';
import { MessageType, OutEnvelope } from '../frames.js';
import { OutboxSettings, realYield, StreamOutbox, StreamSink, Yield } from '../stream-outbox.js';
import { feed, isAsyncIterable } from '../stream-source.js';
import type { CallRegistry, PendingCall, ReplyCallback } from './calls.js';
import type { UpstreamLink } from './upstream-link.js';
import type { RequestEncoder } from './requests.js';

/** What a request stream (§6.1) may be: an Observable or an AsyncIterable (a generator, a `Readable`). */
export type RequestSource = Observable<unknown> | AsyncIterable<unknown>;

/** Whether a request's data is a stream to send as CHUNKs rather than a value. */
export function isRequestSource(data: unknown): data is RequestSource {
  return isObservable(data) || isAsyncIterable(data);
}

/** What the uploads need of the client's options. */
export interface UploadSettings {
  /** `window` undefined: this client offers no `credit` (its `streamWindow` is 0). */
  readonly stream?: { readonly window: number | undefined; readonly bufferLimit: number };
  readonly socket?: { readonly queueLimit: number };
}

/**
 * Sends a client's REQUESTs (docs/PROTOCOL.md §5.1, §6.1): a plain one, or
 * one with flag STREAM whose data follows as CHUNKs and an END on the call's
 * id, under the server's credit (§6). The stream is stopped (its
 * Observable unsubscribed, its iterator returned) when the call ends,
 * however it ends.
 */
export class Uploads {
  constructor(
    private readonly encoder: RequestEncoder,
    private readonly calls: CallRegistry,
    private readonly settings: UploadSettings,
    private readonly yieldTo: Yield = realYield,
  ) {}

  /** Queues the REQUEST of `call` (throws what the encoding or the queue throws) and adds the call. */
  send(
    id: number,
    link: UpstreamLink,
    pattern: string,
    callback: ReplyCallback,
    data: unknown,
    metadata: Buffer | undefined,
    deadline: number | undefined,
  ): PendingCall {
    if (!isRequestSource(data)) {
      link.channel.send(this.encoder.request(id, pattern, data, metadata, link.msgpack, deadline));
      return this.calls.open(id, link, pattern, callback);
    }
    const window = link.window;
    if (window === undefined) {
      // With streamWindow 0 this client offers no `credit` itself: the cause is its own option, not the server.
      const stream = this.settings.stream;
      const side = stream !== undefined && stream.window === undefined ? 'client' : 'server';
      throw new ZmqStreamUnsupportedError(link.welcome?.id ?? link.endpoint, side);
    }
    link.channel.send(this.encoder.streamRequest(id, pattern, metadata, deadline));
    const call = this.calls.open(id, link, pattern, callback);
    const upload = new Upload(call, this.encoder, this.calls, {
      window,
      limitBytes: this.settings.stream?.bufferLimit ?? Number.POSITIVE_INFINITY,
      queueLimit: this.settings.socket?.queueLimit ?? 0,
      yieldTo: this.yieldTo,
    });
    call.upload = upload;
    upload.start(data);
    return call;
  }
}

/** One request stream being sent: its credit and buffer (a StreamOutbox) and its producer. */
class Upload implements StreamSink {
  private readonly outbox: StreamOutbox;
  private stopProducer: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly call: PendingCall,
    private readonly encoder: RequestEncoder,
    private readonly calls: CallRegistry,
    private readonly settings: OutboxSettings,
  ) {
    this.outbox = new StreamOutbox(call.id, this, settings);
  }

  start(source: RequestSource): void {
    const outbox = this.outbox;
    const stop = feed(
      source,
      {
        get room() {
          return outbox.room;
        },
        whenRoom: fn => outbox.whenRoom(fn),
        next: value => this.next(value),
        complete: () => outbox.end(undefined),
        error: err => this.failed(err),
      },
      { yieldTo: this.settings.yieldTo },
    );
    if (this.stopped) stop();
    else this.stopProducer = stop;
  }

  /** The server granted `n` more values. */
  grant(n: number): void {
    this.outbox.grant(n);
  }

  /** The call ended (reply, cancel, timeout, peer lost, close): nothing more is sent, the producer stops. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.outbox.close();
    this.stopProducer?.();
  }

  send(env: OutEnvelope): boolean {
    return this.call.link.trySend(env);
  }

  sendLast(env: OutEnvelope): void {
    this.call.link.trySend(env, true);
  }

  /** The stream cannot go on (its source failed, STREAM_OVERFLOW, QUEUE_FULL, a value that cannot be encoded). */
  failed(err: unknown): void {
    if (this.stopped) return;
    // The call fails here with the reason, and the server is told to stop (its teardown runs).
    if (this.calls.fail(this.call.id, err))
      this.call.link.trySend(controlEnvelope(MessageType.Cancel, this.call.id), true);
    this.stop();
  }

  private next(value: unknown): void {
    if (this.stopped) return;
    let env: OutEnvelope;
    try {
      env = this.encoder.chunk(this.call.id, this.call.pattern, value, this.call.link.msgpack);
    } catch (err) {
      return this.failed(err);
    }
    if (!this.outbox.push(env)) this.stop();
  }
}
