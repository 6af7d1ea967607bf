import type { Clock, Scheduler } from '../clock.js';
import { RequestTracker } from '../request-tracker.js';

/**
 * The client's calls in flight by id, each with its deadline: the client's
 * `requestTimeout` for most, a call's own `timeout` for those that set one.
 * A {@link RequestTracker} keeps one timeout for all its entries (one timer,
 * entries in deadline order), so each other timeout gets a tracker of its own;
 * ids stay unique across them. Calls with the client's timeout cost one map
 * lookup more only while calls with their own are in flight.
 */
export class CallTimers<T> {
  private readonly main: RequestTracker<T>;
  /** The trackers of the calls' own timeouts, by timeout (one is dropped once it is empty). */
  private readonly own = new Map<number, RequestTracker<T>>();
  /** The timeout of each call with its own, by id. */
  private readonly elsewhere = new Map<number, number>();

  constructor(
    readonly timeoutMs: number,
    private readonly onTimeout: (id: number, value: T) => void,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
  ) {
    this.main = new RequestTracker<T>(timeoutMs, onTimeout, clock, scheduler);
  }

  get size(): number {
    return this.main.size + this.elsewhere.size;
  }

  /** An id free in every tracker. */
  nextId(): number {
    for (let tries = 0; tries <= this.elsewhere.size; tries++) {
      const id = this.main.nextId();
      if (!this.elsewhere.has(id)) return id;
    }
    throw new RangeError('no free request id');
  }

  /** Tracks `value` under `id` with `timeoutMs` (default: the client's); returns the clock's time it read. */
  add(id: number, value: T, timeoutMs: number = this.timeoutMs): number {
    if (timeoutMs === this.timeoutMs) return this.main.add(id, value);
    let tracker = this.own.get(timeoutMs);
    if (tracker === undefined) {
      tracker = new RequestTracker<T>(timeoutMs, (expired, v) => this.expired(expired, v), this.clock, this.scheduler);
      this.own.set(timeoutMs, tracker);
    }
    this.elsewhere.set(id, timeoutMs);
    return tracker.add(id, value);
  }

  get(id: number): T | undefined {
    const value = this.main.get(id);
    if (value !== undefined || this.elsewhere.size === 0) return value;
    return this.trackerOf(id)?.get(id);
  }

  touch(id: number): void {
    (this.trackerOf(id) ?? this.main).touch(id);
  }

  delete(id: number): T | undefined {
    const timeout = this.elsewhere.size === 0 ? undefined : this.elsewhere.get(id);
    if (timeout === undefined) return this.main.delete(id);
    this.elsewhere.delete(id);
    const tracker = this.own.get(timeout)!;
    const value = tracker.delete(id);
    if (tracker.size === 0) this.own.delete(timeout);
    return value;
  }

  /** Removes and returns every entry. */
  drain(): T[] {
    const values = this.main.drain();
    for (const tracker of this.own.values()) values.push(...tracker.drain());
    this.own.clear();
    this.elsewhere.clear();
    return values;
  }

  /** Removes and returns the entries `select` picks. */
  drainWhere(select: (value: T) => boolean): T[] {
    const values = this.main.drainWhere(select);
    for (const [timeout, tracker] of [...this.own]) {
      for (const value of tracker.drainWhere(select)) values.push(value);
      if (tracker.size === 0) this.own.delete(timeout);
    }
    if (this.own.size === 0) this.elsewhere.clear();
    else
      for (const id of [...this.elsewhere.keys()])
        if (this.trackerOf(id)?.get(id) === undefined) this.elsewhere.delete(id);
    return values;
  }

  private trackerOf(id: number): RequestTracker<T> | undefined {
    if (this.elsewhere.size === 0) return undefined;
    const timeout = this.elsewhere.get(id);
    return timeout === undefined ? undefined : this.own.get(timeout);
  }

  private expired(id: number, value: T): void {
    const timeout = this.elsewhere.get(id);
    this.elsewhere.delete(id);
    const tracker = timeout === undefined ? undefined : this.own.get(timeout);
    if (tracker !== undefined && tracker.size === 0) this.own.delete(timeout!);
    this.onTimeout(id, value);
  }
}
