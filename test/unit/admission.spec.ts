import { Admission, AdmissionSettings, INITIAL_TURN_BUDGET, ShedReason } from '../../lib/protocol/server/admission';
import type { DownstreamSession } from '../../lib/protocol/server/sessions';
import { Encoding, Envelope, MessageType } from '../../lib/protocol/frames';
import { ManualTime } from '../helpers/manual-time';

const SETTINGS: AdmissionSettings = {
  maxCallsPerPeer: 4,
  sliceMs: 5,
  queueTarget: 5,
  deadlineShare: 0.1,
  assumedDeadline: 30_000,
  intervalMs: 100,
  maxQueued: 10,
};

/** Event-loop turns run by hand: what the admission schedules waits here. */
class Turns {
  private queue: Array<() => void> = [];
  readonly yieldTo = (fn: () => void) => void this.queue.push(fn);
  run(): void {
    const fns = this.queue;
    this.queue = [];
    for (const fn of fns) fn();
  }
}

function session(): DownstreamSession {
  return { calls: new Map(), waiting: new Map() } as unknown as DownstreamSession;
}

function request(id: number, deadline?: number): Envelope {
  return {
    type: MessageType.Request,
    flags: 0,
    encoding: Encoding.Json,
    id,
    pattern: 'work',
    metadata: undefined,
    deadline,
    payload: Buffer.alloc(0),
  } as Envelope;
}

function setup(over: Partial<AdmissionSettings> = {}, handlerMs = 0, cpu?: () => number) {
  const time = new ManualTime();
  const turns = new Turns();
  const started: number[] = [];
  const shed: Array<[number, ShedReason]> = [];
  const admission = new Admission(
    { ...SETTINGS, ...over },
    {
      start: (peer: DownstreamSession, env: Envelope) => {
        started.push(env.id);
        peer.calls.set(env.id, {} as never); // a call in progress until the test ends
        time.advance(handlerMs); // a synchronous handler's CPU time
      },
      shed: (w, reason) => void shed.push([w.env.id, reason]),
      forgotten: () => undefined,
    },
    time,
    turns.yieldTo,
    cpu,
  );
  return { time, turns, started, shed, admission };
}

describe('Admission', () => {
  it('starts requests as they are read while the turn has budget left', () => {
    const s = setup({}, 0);
    const peer = session();
    for (let id = 1; id <= 3; id++) s.admission.admit(peer, request(id));
    expect(s.started).toEqual([1, 2, 3]);
    expect(s.admission.current.kind).toBe('flowing');
  });

  it('queues requests past the turn budget, and starts them oldest first in later turns', () => {
    const s = setup({ maxCallsPerPeer: 0 }, 0);
    const peer = session();
    const n = INITIAL_TURN_BUDGET + 3;
    for (let id = 1; id <= n; id++) s.admission.admit(peer, request(id));
    expect(s.started).toHaveLength(INITIAL_TURN_BUDGET);
    expect(s.admission.current.kind).toBe('queueing');
    expect(s.admission.queued).toBe(3);
    for (let turn = 0; turn < 10 && s.admission.queued > 0; turn++) s.turns.run();
    expect(s.started).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    s.turns.run();
    expect(s.admission.current.kind).toBe('flowing');
  });

  it('the turn budget shrinks after turns whose handlers took longer than the slice, and grows after turns that fit', () => {
    const slow = setup({ maxCallsPerPeer: 0 }, 2); // 2 ms a request, 5 ms a turn: 2 fit
    const peer = session();
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 10; i++) slow.admission.admit(peer, request(turn * 10 + i + 1));
      slow.turns.run();
    }
    expect(slow.admission.turnBudget).toBeLessThanOrEqual(3); // what fits, or one more that the next turn shows too many
    const fast = setup({ maxCallsPerPeer: 0 }, 0);
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 100; i++) fast.admission.admit(peer, request(10_000 + turn * 100 + i));
      fast.turns.run();
    }
    expect(fast.admission.turnBudget).toBeGreaterThan(INITIAL_TURN_BUDGET);
  });

  it('the turn budget counts the handlers a drain started, not the time spent reading requests between drains', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 100_000 }, 0);
    const peer = session();
    let id = 0;
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 100; i++) s.admission.admit(peer, request(++id));
      s.time.advance(20); // reading the next requests takes longer than a slice; the handlers take nothing
      s.turns.run();
    }
    expect(s.admission.turnBudget).toBeGreaterThan(INITIAL_TURN_BUDGET);
  });

  it('a turn costs its CPU time when that is less than its clock time: waiting for a core shrinks no budget', () => {
    const peer = session();
    const run = (withCpu: boolean) => {
      let started: readonly number[] = [];
      const cpu = () => 0.1 * started.length; // each handler: 2 ms on the clock, of which 0.1 ms on a core
      const s = setup({ maxCallsPerPeer: 0, maxQueued: 100_000 }, 2, withCpu ? cpu : undefined);
      started = s.started;
      let id = 0;
      for (let turn = 0; turn < 20; turn++) {
        for (let i = 0; i < 100; i++) s.admission.admit(peer, request(++id));
        s.turns.run();
      }
      return s.admission.turnBudget;
    };
    expect(run(false)).toBeLessThan(INITIAL_TURN_BUDGET);
    expect(run(true)).toBeGreaterThan(INITIAL_TURN_BUDGET);
  });

  it('turns are shorter while overloaded: at most half the queue target', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 10_000, sliceMs: 10, queueTarget: 4 }, 1);
    expect(s.admission.turnSlice).toBe(10);
    const peer = session();
    let id = 0;
    for (let turn = 0; turn < 100; turn++) {
      for (let i = 0; i < 20; i++) s.admission.admit(peer, request(++id, 200));
      s.turns.run();
    }
    expect(s.admission.current.kind).toBe('overloaded');
    expect(s.admission.turnSlice).toBe(2);
    expect(s.admission.turnBudget).toBeLessThanOrEqual(3);
  });

  it('callers in closed loops are no overload: their queue does not grow, and nothing is shed', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 10_000, deadlineShare: 0 }, 1);
    const peer = session();
    let id = 0;
    // 64 callers, each sending again as soon as its call started (a handler of 1 ms, twelve times a turn's slice).
    for (let i = 0; i < 64; i++) s.admission.admit(peer, request(++id, 2_000));
    const states = new Set<string>();
    for (let turn = 0; turn < 2_000 && s.time.now() < 3_000; turn++) {
      const before = s.started.length;
      s.turns.run();
      states.add(s.admission.current.kind);
      for (let i = before; i < s.started.length; i++) s.admission.admit(peer, request(++id, 2_000));
    }
    expect(s.time.now()).toBeGreaterThanOrEqual(3_000);
    expect(states.has('queueing')).toBe(true);
    expect(states.has('overloaded')).toBe(false);
    expect(s.shed).toEqual([]);
  });

  it('overload lasts while the queue stands, through a moment it empties, and ends an interval after it drains', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 10_000 }, 1);
    const peer = session();
    let id = 0;
    for (let turn = 0; turn < 100; turn++) {
      for (let i = 0; i < 20; i++) s.admission.admit(peer, request(++id, 200));
      s.turns.run();
    }
    expect(s.admission.current.kind).toBe('overloaded');
    for (let turn = 0; turn < 100 && s.admission.queued > 0; turn++) s.turns.run();
    expect(s.admission.queued).toBe(0);
    // Requests arrive again before an interval passed: still overloaded, so the newest is served first.
    s.time.advance(10);
    const again = id;
    for (let i = 0; i < 20; i++) s.admission.admit(peer, request(++id, 200));
    expect(s.admission.current.kind).toBe('overloaded');
    const drainedFrom = s.started.length;
    s.turns.run();
    expect(s.started[drainedFrom]).toBe(id);
    for (let turn = 0; turn < 100 && s.admission.queued > 0; turn++) s.turns.run();
    expect(s.started.filter(n => n > again)).toHaveLength(20); // within the target: none shed
    s.time.advance(100);
    expect(s.admission.current.kind).toBe('flowing');
  });

  it('answers OVERLOADED at once past the per-peer budget, and counts it', () => {
    const s = setup({}, 0);
    const peer = session();
    for (let id = 1; id <= 6; id++) s.admission.admit(peer, request(id));
    expect(s.shed).toEqual([
      [5, 'peer-limit'],
      [6, 'peer-limit'],
    ]);
    expect(s.admission.shedCounts['peer-limit']).toBe(2);
  });

  it('[S-31] under sustained overload serves the newest first and sheds what waited past its share of the deadline', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 10_000 }, 1);
    const peer = session();
    let id = 0;
    // 20 requests arrive per turn; a turn should take 5 ms and each request takes 1 ms: four times too many.
    for (let turn = 0; turn < 100; turn++) {
      for (let i = 0; i < 20; i++) s.admission.admit(peer, request(++id, 200));
      s.turns.run();
    }
    expect(s.admission.current.kind).toBe('overloaded');
    expect(s.shed.length).toBeGreaterThan(0);
    expect(s.shed.every(([, reason]) => reason === 'queue-age')).toBe(true);
    // The last turn served the newest requests, not the oldest.
    expect(s.started.at(-1)).toBeGreaterThan(id - 20);
    // Nothing is lost: every request was started, shed, abandoned, or still waits.
    expect(s.started.length + s.shed.length + s.admission.abandoned + s.admission.queued).toBe(id);
  });

  it('serves a burst whole when its callers deadlines leave time for it', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 10_000 }, 1);
    const peer = session();
    for (let id = 1; id <= 1_000; id++) s.admission.admit(peer, request(id, 30_000));
    for (let turn = 0; turn < 2_000 && s.admission.queued > 0; turn++) s.turns.run();
    expect(s.shed).toEqual([]);
    expect(s.started).toHaveLength(1_000);
  });

  it('serves a burst whole with no share of the deadline to wait on: nothing more arrives, so it is no overload', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 10_000, deadlineShare: 0 }, 1);
    const peer = session();
    for (let id = 1; id <= 1_000; id++) s.admission.admit(peer, request(id, 30_000));
    const states = new Set<string>();
    for (let turn = 0; turn < 5_000 && s.admission.queued > 0; turn++) {
      s.turns.run();
      states.add(s.admission.current.kind);
    }
    expect(s.shed).toEqual([]);
    expect(s.started).toHaveLength(1_000);
    expect(states.has('overloaded')).toBe(false);
  });

  it('an overload whose requests arrive in bursts, with nothing in between, is overload', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 100_000, deadlineShare: 0 }, 1);
    const peer = session();
    let id = 0;
    let next = s.time.now();
    // Handlers of 1 ms: 1,000 a second. Every 150 ms, 300 requests at once: twice that, never in two half
    // intervals in a row.
    for (let turn = 0; turn < 20_000 && s.time.now() < 3_000; turn++) {
      if (s.time.now() >= next) {
        for (let i = 0; i < 300; i++) s.admission.admit(peer, request(++id, 2_000));
        next += 150;
      }
      if (s.admission.queued > 0) s.turns.run();
      else s.time.advance(1);
    }
    expect(s.time.now()).toBeGreaterThanOrEqual(3_000);
    expect(s.admission.current.kind).toBe('overloaded');
    expect(s.shed.length).toBeGreaterThan(0);
  });

  it('[S-32] never starts a request whose caller gave up while it waited, nor a cancelled one', () => {
    const s = setup({ maxCallsPerPeer: 0 }, 0);
    const peer = session();
    for (let id = 1; id <= INITIAL_TURN_BUDGET; id++) s.admission.admit(peer, request(id)); // the whole turn
    s.admission.admit(peer, request(100, 5)); // its caller waits 5 ms
    s.admission.admit(peer, request(101));
    s.admission.forget(peer.waiting.get(101)!);
    s.time.advance(10);
    s.turns.run();
    s.turns.run();
    expect(s.started).not.toContain(100);
    expect(s.started).not.toContain(101);
    expect(s.admission.abandoned).toBe(1);
  });

  it('sheds the oldest when the queue is full', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 2 }, 0);
    const peer = session();
    const first = INITIAL_TURN_BUDGET;
    for (let id = 1; id <= first + 4; id++) s.admission.admit(peer, request(id)); // the turn's budget, then 4 wait
    expect(s.shed).toEqual([
      [first + 1, 'queue-full'],
      [first + 2, 'queue-full'],
    ]);
  });
});
