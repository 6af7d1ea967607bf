import type { Clock, Scheduler } from '../../lib/protocol/clock';
import { RequestTracker } from '../../lib/protocol/request-tracker';

class FakeClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
}

interface FakeTimer {
  fn: () => void;
  at: number;
  cleared: boolean;
  fired: boolean;
}

/** Timers driven by a FakeClock: `advanceTo` fires, in order, those that are due. */
class FakeScheduler implements Scheduler {
  readonly timers: FakeTimer[] = [];
  constructor(private readonly clock: FakeClock) {}

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: FakeTimer = { fn, at: this.clock.t + ms, cleared: false, fired: false };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    (handle as FakeTimer).cleared = true;
  }

  get armed(): FakeTimer[] {
    return this.timers.filter(t => !t.cleared && !t.fired);
  }

  /** Moves the clock to `t`, firing due timers one at a time (bounded). */
  advanceTo(t: number): void {
    for (let guard = 0; guard < 1000; guard++) {
      const due = this.armed.filter(x => x.at <= t).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) {
        this.clock.t = t;
        return;
      }
      this.clock.t = Math.max(this.clock.t, due.at);
      due.fired = true;
      due.fn();
    }
    throw new Error('timer loop did not settle');
  }

  /** Fires the armed timers now without moving the clock (a timer that fires late or early). */
  fireArmedNow(): void {
    for (const timer of this.armed) {
      timer.fired = true;
      timer.fn();
    }
  }
}

function setup(timeoutMs = 100) {
  const clock = new FakeClock();
  const scheduler = new FakeScheduler(clock);
  const expired: Array<[number, string]> = [];
  const tracker = new RequestTracker<string>(timeoutMs, (id, value) => expired.push([id, value]), clock, scheduler);
  return { clock, scheduler, expired, tracker };
}

describe('RequestTracker ids', () => {
  it('hands out 1, 2, 3, ... and never 0', () => {
    const { tracker } = setup();
    expect([tracker.nextId(), tracker.nextId(), tracker.nextId()]).toEqual([1, 2, 3]);
  });

  it('wraps around after 2^32-1, skipping 0 and ids still pending', () => {
    const { tracker } = setup();
    (tracker as unknown as { lastId: number }).lastId = 0xfffffffd;
    expect(tracker.nextId()).toBe(0xfffffffe);
    tracker.add(0xffffffff, 'max');
    tracker.add(1, 'one');
    tracker.add(2, 'two');
    const id = tracker.nextId();
    expect(id).toBe(3);
    tracker.delete(1);
    (tracker as unknown as { lastId: number }).lastId = 0xffffffff;
    expect(tracker.nextId()).toBe(1);
  });

  it('fails with RangeError rather than loop when every id it tries is taken', () => {
    const { tracker } = setup();
    // Pretend the id space is exhausted: every id reports as pending.
    (tracker as unknown as { slots: { has(): boolean; size: number } }).slots = { has: () => true, size: 5 };
    expect(() => tracker.nextId()).toThrow(RangeError);
  });
});

describe('RequestTracker deadlines', () => {
  it('arms one timer for many requests, at the oldest deadline', () => {
    const { tracker, scheduler, clock } = setup(100);
    tracker.add(1, 'a');
    clock.t = 10;
    tracker.add(2, 'b');
    tracker.add(3, 'c');
    expect(scheduler.armed).toHaveLength(1);
    expect(scheduler.armed[0]!.at).toBe(101);
    expect(tracker.size).toBe(3);
    expect(tracker.get(2)).toBe('b');
  });

  it('expires requests in deadline order, sweeping only expired ones and re-arming', () => {
    const { tracker, scheduler, clock, expired } = setup(100);
    tracker.add(1, 'a');
    clock.t = 10;
    tracker.add(2, 'b');
    clock.t = 20;
    tracker.add(3, 'c');

    scheduler.advanceTo(101);
    expect(expired).toEqual([[1, 'a']]);
    expect(tracker.size).toBe(2);
    expect(scheduler.armed).toHaveLength(1);
    expect(scheduler.armed[0]!.at).toBe(111);

    scheduler.advanceTo(111);
    expect(expired).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);

    scheduler.advanceTo(121);
    expect(expired.map(([id]) => id)).toEqual([1, 2, 3]);
    expect(tracker.size).toBe(0);
    expect(scheduler.armed).toHaveLength(0);
  });

  it('does not expire a request whose deadline has not passed when the timer fires early', () => {
    const { tracker, scheduler, expired } = setup(100);
    tracker.add(1, 'a');
    scheduler.fireArmedNow(); // clock still at 0
    expect(expired).toEqual([]);
    expect(tracker.get(1)).toBe('a');
    expect(scheduler.armed).toHaveLength(1);
    scheduler.advanceTo(101);
    expect(expired).toEqual([[1, 'a']]);
  });

  it('touch moves the deadline of one request behind the others', () => {
    const { tracker, scheduler, clock, expired } = setup(100);
    tracker.add(1, 'a');
    clock.t = 10;
    tracker.add(2, 'b');
    clock.t = 50;
    tracker.touch(1); // deadline 150; request 2 is now first (110)

    scheduler.advanceTo(101); // the old timer fires: nothing is due yet
    expect(expired).toEqual([]);
    scheduler.advanceTo(111);
    expect(expired).toEqual([[2, 'b']]);
    scheduler.advanceTo(150);
    expect(expired).toEqual([[2, 'b']]);
    scheduler.advanceTo(151);
    expect(expired).toEqual([
      [2, 'b'],
      [1, 'a'],
    ]);
  });

  it('touching the newest request again and again (a stream) keeps it last; another touch moves it behind', () => {
    const { tracker, scheduler, clock, expired } = setup(100);
    tracker.add(1, 'a');
    tracker.add(2, 'b');
    for (let t = 1; t <= 50; t++) {
      clock.t = t;
      tracker.touch(2); // newest: its deadline moves, no re-insert
    }
    clock.t = 60;
    tracker.touch(1); // 1 is now last (160), 2 first (150)
    tracker.delete(2);
    clock.t = 70;
    tracker.add(3, 'c'); // 170
    tracker.touch(1); // 170, behind 3
    scheduler.advanceTo(171);
    expect(expired).toEqual([
      [3, 'c'],
      [1, 'a'],
    ]);
  });

  it('touch of an unknown id does nothing', () => {
    const { tracker, scheduler } = setup(100);
    tracker.touch(5);
    expect(tracker.size).toBe(0);
    expect(scheduler.timers).toHaveLength(0);
  });

  it('delete of the last request disarms the timer; delete of one of several does not', () => {
    const { tracker, scheduler, expired } = setup(100);
    tracker.add(1, 'a');
    tracker.add(2, 'b');
    expect(tracker.delete(1)).toBe('a');
    expect(scheduler.armed).toHaveLength(1);
    expect(tracker.delete(2)).toBe('b');
    expect(scheduler.armed).toHaveLength(0);
    expect(tracker.delete(2)).toBeUndefined();
    scheduler.advanceTo(1_000);
    expect(expired).toEqual([]);
  });

  it('re-arms after a disarm when a new request arrives', () => {
    const { tracker, scheduler, clock, expired } = setup(100);
    tracker.add(1, 'a');
    tracker.delete(1);
    clock.t = 500;
    tracker.add(2, 'b');
    expect(scheduler.armed.map(t => t.at)).toEqual([601]);
    scheduler.advanceTo(601);
    expect(expired).toEqual([[2, 'b']]);
  });

  it('expires everything exactly once when the clock jumps far forward', () => {
    const { tracker, scheduler, clock, expired } = setup(100);
    for (let i = 1; i <= 5; i++) {
      clock.t = i * 10;
      tracker.add(i, `v${i}`);
    }
    clock.t = 1e12; // a long stall: the one armed timer fires very late
    scheduler.fireArmedNow();
    expect(expired.map(([id]) => id)).toEqual([1, 2, 3, 4, 5]);
    expect(tracker.size).toBe(0);
    expect(scheduler.armed).toHaveLength(0);
    scheduler.advanceTo(2e12);
    expect(expired).toHaveLength(5);
  });

  it('has re-armed before onTimeout runs, so a request added from the callback is tracked', () => {
    const clock = new FakeClock();
    const scheduler = new FakeScheduler(clock);
    const expired: number[] = [];
    const tracker: RequestTracker<string> = new RequestTracker<string>(
      100,
      id => {
        expired.push(id);
        if (id === 1) tracker.add(10, 'retry');
      },
      clock,
      scheduler,
    );
    tracker.add(1, 'a');
    scheduler.advanceTo(101);
    expect(tracker.get(10)).toBe('retry');
    expect(scheduler.armed).toHaveLength(1);
    scheduler.advanceTo(202);
    expect(expired).toEqual([1, 10]);
  });

  it('drain and drainWhere remove entries and disarm when empty', () => {
    const { tracker, scheduler, expired } = setup(100);
    tracker.add(1, 'a');
    tracker.add(2, 'b');
    tracker.add(3, 'a');
    expect(tracker.drainWhere(v => v === 'a')).toEqual(['a', 'a']);
    expect(tracker.size).toBe(1);
    expect(scheduler.armed).toHaveLength(1);
    expect(tracker.drain()).toEqual(['b']);
    expect(scheduler.armed).toHaveLength(0);
    scheduler.advanceTo(1_000);
    expect(expired).toEqual([]);
  });

  it('with timeout 0 never arms a timer and never expires', () => {
    const { tracker, scheduler, expired } = setup(0);
    tracker.add(1, 'a');
    tracker.touch(1);
    scheduler.advanceTo(1e9);
    expect(scheduler.timers).toHaveLength(0);
    expect(expired).toEqual([]);
    expect(tracker.get(1)).toBe('a');
  });
});
