import { Observable, Subscriber } from 'rxjs';
import { GrantCounter } from '../credit.js';

/**
 * - `open`: values arrive (CHUNKs from the client) and go to the subscriber, or wait for one;
 * - `ended`: the client's END came; what waits still goes to the subscriber, then completion;
 * - `failed`: the call ended first (cancel, session lost, reply over): the subscriber gets `error`.
 */
export type RequestStreamState =
  { readonly kind: 'open' } | { readonly kind: 'ended' } | { readonly kind: 'failed'; readonly error: Error };

/**
 * A streamed request's data on the server (docs/PROTOCOL.md §5.9): the
 * Observable a handler gets as its payload. The client sends at most the
 * server's window of values ahead of what the subscriber took (§5.8); a value
 * taken is granted back once per half window through `grant`. Values that
 * arrive before the handler subscribes wait (at most a window of them). One
 * subscriber: a second one gets an error.
 */
export class RequestStream {
  readonly observable: Observable<unknown>;
  private current: RequestStreamState = { kind: 'open' };
  private waiting: unknown[] = [];
  private subscriber: Subscriber<unknown> | undefined;
  private subscribed = false;
  private readonly grants: GrantCounter;

  constructor(
    readonly window: number,
    private readonly grant: (n: number) => void,
  ) {
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

  /** One value from the client; false when it came beyond the credit (the client broke §5.8). */
  value(v: unknown): boolean {
    if (this.current.kind !== 'open') return true;
    if (this.subscriber !== undefined) {
      this.take(this.subscriber, v);
      return true;
    }
    if (this.subscribed) return true; // the handler unsubscribed: no more grants, the client stops
    if (this.waiting.length >= this.window) return false;
    this.waiting.push(v);
    return true;
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
    };
  }

  private drain(subscriber: Subscriber<unknown>): void {
    const waiting = this.waiting;
    this.waiting = [];
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
    if (n > 0 && this.current.kind === 'open') this.grant(n);
  }
}

function noop(): void {}
