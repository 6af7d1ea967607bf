import type { Clock, Scheduler } from '../clock.js';
import { RequestTracker } from '../request-tracker.js';

/** What the watch keeps on a call (numbers, so that watching allocates nothing per call). */
export interface Watched {
  /** The call's bucket (its wait, rounded), 0 while not watched. */
  watchBucket: number;
  /** The call's key in that bucket. */
  watchKey: number;
}

/** Buckets per doubling: a deadline is rounded up to the next of 16 steps per power of two (at most 1/16 late). */
const STEPS_PER_DOUBLING = 16;

/**
 * The callers' deadlines of the calls in progress (docs/PROTOCOL.md §5.5),
 * on few timers: calls are kept in buckets of the same wait (the wait rounded
 * up to one of 16 steps per doubling), and each bucket is a RequestTracker,
 * one timer for all its calls. A reply message restarts its call's wait, as
 * it restarts the caller's.
 */
export class DeadlineWatch<C extends Watched> {
  private readonly buckets = new Map<number, RequestTracker<C>>();

  constructor(
    private readonly onExpired: (call: C) => void,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
  ) {}

  /** Starts watching `call`, whose caller waits `ms` for its next reply message. */
  watch(call: C, ms: number): void {
    const bucket = bucketOf(ms);
    let tracker = this.buckets.get(bucket);
    if (tracker === undefined) {
      tracker = new RequestTracker<C>(bucket, (_key, c) => this.expire(c), this.clock, this.scheduler);
      this.buckets.set(bucket, tracker);
    }
    const key = tracker.nextId();
    tracker.add(key, call);
    call.watchBucket = bucket;
    call.watchKey = key;
  }

  /** The call sent a reply message: its wait starts again. */
  touch(call: C): void {
    if (call.watchBucket !== 0) this.buckets.get(call.watchBucket)?.touch(call.watchKey);
  }

  /** The call ended: stop watching it. */
  unwatch(call: C): void {
    const bucket = call.watchBucket;
    if (bucket === 0) return;
    call.watchBucket = 0;
    const tracker = this.buckets.get(bucket);
    tracker?.delete(call.watchKey);
    this.dropIfEmpty(bucket);
  }

  private expire(call: C): void {
    const bucket = call.watchBucket;
    call.watchBucket = 0;
    this.dropIfEmpty(bucket);
    this.onExpired(call);
  }

  private dropIfEmpty(bucket: number): void {
    if (this.buckets.get(bucket)?.size === 0) this.buckets.delete(bucket);
  }
}

/** `ms` rounded up to the next step (a deadline never fires early). */
export function bucketOf(ms: number): number {
  if (ms <= STEPS_PER_DOUBLING) return Math.max(1, Math.ceil(ms));
  const exponent = Math.floor(Math.log2(ms));
  const step = 2 ** exponent / STEPS_PER_DOUBLING;
  return Math.ceil(ms / step) * step;
}
