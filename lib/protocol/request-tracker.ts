import { Clock, monotonicClock, realScheduler, Scheduler } from './clock.js';

interface Slot<T> {
  value: T;
  deadline: number;
}

const MAX_ID = 0xffffffff;

/**
 * Pending requests by id, each with a deadline `timeoutMs` after its last
 * activity. All deadlines share one timeout, so a Map kept in activity order
 * (touch = delete + re-insert) is also in deadline order: one timer, armed
 * for the oldest entry, serves every request.
 */
export class RequestTracker<T> {
  private readonly slots = new Map<number, Slot<T>>();
  private lastId = 0;
  private timer: unknown = undefined;
  /** The id inserted last: already last in activity order, so touching it needs no re-insert (a stream's chunks). */
  private newest = 0;

  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: (id: number, value: T) => void,
    private readonly clock: Clock = monotonicClock,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  get size(): number {
    return this.slots.size;
  }

  /** The next free id: 1 to 2^32-1, wrapping, never one still pending. */
  nextId(): number {
    for (let tries = 0; tries <= this.slots.size; tries++) {
      this.lastId = this.lastId >= MAX_ID ? 1 : this.lastId + 1;
      if (!this.slots.has(this.lastId)) return this.lastId;
    }
    throw new RangeError('no free request id');
  }

  /** Tracks `value` under `id`; returns the clock's time it read (its start, for whoever times it too). */
  add(id: number, value: T): number {
    const now = this.clock.now();
    this.slots.set(id, { value, deadline: now + this.timeoutMs });
    this.newest = id;
    this.arm();
    return now;
  }

  get(id: number): T | undefined {
    return this.slots.get(id)?.value;
  }

  /** Restarts the deadline of `id` (a chunk arrived). */
  touch(id: number): void {
    const slot = this.slots.get(id);
    if (slot === undefined || this.timeoutMs <= 0) return;
    slot.deadline = this.clock.now() + this.timeoutMs;
    if (id === this.newest) return;
    this.slots.delete(id);
    this.slots.set(id, slot);
    this.newest = id;
  }

  delete(id: number): T | undefined {
    const slot = this.slots.get(id);
    if (slot === undefined) return undefined;
    this.slots.delete(id);
    if (id === this.newest) this.newest = 0;
    if (this.slots.size === 0) this.disarm();
    return slot.value;
  }

  /** Removes and returns every entry (in activity order). */
  drain(): T[] {
    const values = [...this.slots.values()].map(s => s.value);
    this.slots.clear();
    this.disarm();
    return values;
  }

  /** Removes and returns the entries `select` picks. */
  drainWhere(select: (value: T) => boolean): T[] {
    const out: T[] = [];
    for (const [id, slot] of this.slots) {
      if (select(slot.value)) {
        this.slots.delete(id);
        out.push(slot.value);
      }
    }
    if (this.slots.size === 0) this.disarm();
    return out;
  }

  private arm(): void {
    if (this.timer !== undefined || this.timeoutMs <= 0) return;
    const first = this.slots.values().next();
    if (first.done) return;
    const wait = Math.max(0, first.value.deadline - this.clock.now());
    this.timer = this.scheduler.setTimeout(() => this.expire(), wait + 1);
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      this.scheduler.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private expire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    const expired: Array<[number, T]> = [];
    for (const [id, slot] of this.slots) {
      if (slot.deadline > now) break;
      expired.push([id, slot.value]);
    }
    for (const [id] of expired) this.slots.delete(id);
    this.arm();
    for (const [id, value] of expired) this.onTimeout(id, value);
  }
}
