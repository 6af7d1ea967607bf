import { Admission, AdmissionSettings, ShedReason, Waiting } from '../../lib/protocol/server/admission';
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

function setup(over: Partial<AdmissionSettings> = {}, handlerMs = 0) {
  const time = new ManualTime();
  const turns = new Turns();
  const started: number[] = [];
  const shed: Array<[number, ShedReason]> = [];
  const admission = new Admission(
    { ...SETTINGS, ...over },
    {
      start: (w: Waiting) => {
        started.push(w.env.id);
        w.session.calls.set(w.env.id, {} as never); // a call in progress until the test ends
        time.advance(handlerMs); // a synchronous handler's CPU time
      },
      shed: (w, reason) => void shed.push([w.env.id, reason]),
    },
    time,
    turns.yieldTo,
  );
  return { time, turns, started, shed, admission };
}

describe('Admission', () => {
  it('starts requests as they are read while the turn has handler time left', () => {
    const s = setup({}, 1);
    const peer = session();
    for (let id = 1; id <= 3; id++) s.admission.admit(peer, request(id));
    expect(s.started).toEqual([1, 2, 3]);
    expect(s.admission.current.kind).toBe('flowing');
  });

  it('queues requests once the turn used its slice, and starts them oldest first in the next turn', () => {
    const s = setup({ maxCallsPerPeer: 0 }, 2);
    const peer = session();
    for (let id = 1; id <= 6; id++) s.admission.admit(peer, request(id));
    expect(s.started).toEqual([1, 2, 3]);
    expect(s.admission.current.kind).toBe('queueing');
    expect(s.admission.queued).toBe(3);
    s.turns.run(); // the end of the turn, then the drain
    s.turns.run();
    expect(s.started).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.admission.current.kind).toBe('flowing');
  });

  it('answers OVERLOADED at once past the per-peer budget, and counts it', () => {
    const s = setup({ sliceMs: 0 });
    const peer = session();
    for (let id = 1; id <= 6; id++) s.admission.admit(peer, request(id));
    expect(s.shed).toEqual([
      [5, 'peer-limit'],
      [6, 'peer-limit'],
    ]);
    expect(s.admission.shedCounts['peer-limit']).toBe(2);
  });

  it('under sustained overload serves the newest first and sheds what waited past its share of the deadline', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 1_000, sliceMs: 5 }, 1);
    const peer = session();
    let id = 0;
    // Four requests arrive per millisecond of handler time: four times what the server can run.
    for (let turn = 0; turn < 60; turn++) {
      for (let i = 0; i < 20; i++) s.admission.admit(peer, request(++id, 200));
      s.turns.run();
    }
    expect(s.admission.current.kind).toBe('overloaded');
    expect(s.shed.length).toBeGreaterThan(0);
    expect(s.shed.every(([, reason]) => reason === 'queue-age')).toBe(true);
    // The last turn served the newest requests, not the oldest.
    expect(s.started.at(-1)).toBeGreaterThan(id - 20);
    // Nothing shed or started is lost: every request was either started, shed, or still waits.
    expect(s.started.length + s.shed.length + s.admission.queued).toBe(id);
  });

  it('serves a burst whole when its callers deadlines leave time for it', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 10_000, sliceMs: 5 }, 1);
    const peer = session();
    for (let id = 1; id <= 1_000; id++) s.admission.admit(peer, request(id, 30_000));
    for (let turn = 0; turn < 1_000 && s.admission.queued > 0; turn++) s.turns.run();
    expect(s.shed).toEqual([]);
    expect(s.started).toHaveLength(1_000);
  });

  it('never starts a request whose caller gave up while it waited, nor a cancelled one', () => {
    const s = setup({ maxCallsPerPeer: 0 }, 10);
    const peer = session();
    s.admission.admit(peer, request(1)); // uses the whole slice
    s.admission.admit(peer, request(2, 5)); // its caller waits 5 ms
    s.admission.admit(peer, request(3));
    s.admission.forget(peer.waiting.get(3)!);
    s.time.advance(10);
    s.turns.run();
    s.turns.run();
    expect(s.started).toEqual([1]);
    expect(s.admission.abandoned).toBe(1);
  });

  it('sheds the oldest when the queue is full', () => {
    const s = setup({ maxCallsPerPeer: 0, maxQueued: 2, sliceMs: 0 });
    const peer = session();
    for (let id = 1; id <= 5; id++) s.admission.admit(peer, request(id)); // 1 starts, 2 to 5 wait
    expect(s.shed).toEqual([
      [2, 'queue-full'],
      [3, 'queue-full'],
    ]);
  });
});
