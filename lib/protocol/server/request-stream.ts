import { Observable, Subscriber } from 'rxjs';
import { GrantCounter } from '../credit.js';
import type { ByteBudget } from '../stream-outbox.js';

/**
 * - `open`: values arrive (CHUNKs from the client) and go to the subscriber, or wait for one;
 * - `ended`: the client's END came; what waits still goes to the subscriber, then completion;
 * - `failed`: the call ended first (cancel, session lost, reply over): the subscriber gets `error`.
 */
export type RequestStreamState =
  { readonly kind: 'open' } | { readonly kind: 'ended' } | { readonly kind: 'failed'; readonly error: Error };

/**
 * A streamed request's data on the server (docs/PROTOCOL.md §6.1): the
 * Observable a handler gets as its payload. The client sends at most the
 * server's window of values ahead of what the subscriber took (§6); a value
 * taken is granted back once per half window through `grant`, and a value
 * beyond the credit granted so far (grants not yet received by the client
 * count) breaks the rule. Values that arrive before the handler subscribes
 * wait, within the stream's and the session's byte limits. One subscriber: a
 * second one gets an error.
 */
export class RequestStream {
  readonly observable: Observable<unknown>;
  private current: RequestStreamState = { kind: 'open' };
  private waiting: unknown[] = [];
  private subscriber: Subscriber<unknown> | undefined;
  private subscribed = false;
  private readonly grants: GrantCounter;
  /** Values the client may still send: the window, plus grants sent, less values received. */
  private credit: number;
  /** What the waiting values hold (payload bytes and overhead). */
  private waitingBytes = 0;

  constructor(
    readonly window: number,
    private readonly grant: (n: number) => void,
    /** Bytes values may hold while they wait for the subscriber: this stream's and the session's. */
    private readonly limits: { readonly bytes: number; readonly shared?: ByteBudget } = {
      bytes: Number.POSITIVE_INFINITY,
    },
  ) {
    this.credit = window;
    this.grants = new GrantCounter(window);
    this.observable = new Observable<unknown>(subscriber => this.attach(subscriber));
  }

  get state(): RequestStreamState {
    return this.current;
  }

  /** Values received and not taken yet. */
  get pending(): number {
    return this.waiting.length;
  }

  /**
   * One value from the client (`cost`: what it holds while it waits); false
   * when it came beyond the credit (the client broke §6) or would pass a
   * byte limit while it waits.
   */
  value(v: unknown, cost = 0): boolean {
    if (this.current.kind !== 'open') return true;
    if (this.credit <= 0) return false;
    this.credit--;
    if (this.subscriber !== undefined) {
      this.take(this.subscriber, v);
      return true;
    }
    if (this.subscribed) return true; // the handler unsubscribed: no more grants, the client stops
    const shared = this.limits.shared;
    if (this.waitingBytes + cost > this.limits.bytes) return false;
    if (shared !== undefined && shared.used + cost > shared.limit) return false;
    this.waiting.push(v);
    this.waitingBytes += cost;
    if (shared !== undefined) shared.used += cost;
    return true;
  }

  /** The waiting values are gone (taken or dropped): their bytes go back to the budgets. */
  private release(): void {
    if (this.limits.shared !== undefined) this.limits.shared.used -= this.waitingBytes;
    this.waitingBytes = 0;
  }

  /** The client's END. */
  end(): void {
    if (this.current.kind !== 'open') return;
    this.current = { kind: 'ended' };
    if (this.subscriber !== undefined) this.drain(this.subscriber);
  }

  /** The call ended before the stream did: a subscriber that is still there gets `err`. */
  fail(err: Error): void {
    if (this.current.kind !== 'open') return;
    this.current = { kind: 'failed', error: err };
    this.waiting = [];
    this.release();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    subscriber?.error(err);
  }

  private attach(subscriber: Subscriber<unknown>): () => void {
    if (this.subscribed) {
      subscriber.error(new Error('A request stream can be subscribed to once'));
      return noop;
    }
    this.subscribed = true;
    if (this.current.kind === 'failed') {
      subscriber.error(this.current.error);
      return noop;
    }
    this.subscriber = subscriber;
    this.drain(subscriber);
    return () => {
      this.subscriber = undefined;
      this.waiting = [];
      this.release();
    };
  }

  private drain(subscriber: Subscriber<unknown>): void {
    const waiting = this.waiting;
    this.waiting = [];
    this.release();
    for (const v of waiting) {
      if (this.subscriber !== subscriber) return;
      this.take(subscriber, v);
    }
    if (this.current.kind === 'ended' && this.subscriber === subscriber) {
      this.subscriber = undefined;
      subscriber.complete();
    }
  }

  private take(subscriber: Subscriber<unknown>, v: unknown): void {
    subscriber.next(v);
    const n = this.grants.take();
    if (n > 0 && this.current.kind === 'open') {
      this.credit += n;
      this.grant(n);
    }
  }
}

function noop(): void {}
