import type { Clock } from '../clock.js';
import type { Envelope } from '../frames.js';
import type { Yield } from '../stream-outbox.js';
import type { DownstreamSession } from './sessions.js';

/**
 * How a server admits requests (docs/resilience.md). Every figure has a
 * default that needs no tuning; `maxCallsPerPeer: 0` and `queueTarget: 0`
 * turn the two bounds off.
 */
export interface AdmissionSettings {
  /** Calls one session may have in progress or waiting; past it a REQUEST is answered OVERLOADED at once. */
  readonly maxCallsPerPeer: number;
  /**
   * How long (ms) one event-loop turn should take: the requests started per
   * turn adapt so that the handlers they run (which Nest runs right after,
   * in the same turn) fit in it; later requests wait in the admission queue.
   * While overloaded, a turn takes at most half of `queueTarget` (see
   * {@link Admission.turnSlice}).
   */
  readonly sliceMs: number;
  /**
   * The longest wait (ms) of a request while the server is overloaded: past
   * it (and past `deadlineShare` of its caller's deadline) it is shed.
   * 0: no overload state at all (oldest first always, nothing shed for its age).
   */
  readonly queueTarget: number;
  /** The share of a caller's deadline a request may wait while the server is overloaded, when longer than `queueTarget`. */
  readonly deadlineShare: number;
  /** The deadline (ms) assumed for a request that carries none. */
  readonly assumedDeadline: number;
  /**
   * A queue that has not emptied for this long (ms) while requests surged in
   * means overload; overload ends once this long passed in which every turn
   * emptied the queue.
   */
  readonly intervalMs: number;
  /** Requests the queue holds at most; past it the oldest is shed. */
  readonly maxQueued: number;
}

/** A request read but not started yet. */
export interface Waiting {
  readonly session: DownstreamSession;
  readonly env: Envelope;
  /** When it was read, on the engine's clock. */
  readonly at: number;
  /** Cancelled, or its session ended, while it waited. */
  gone: boolean;
}

/** Why a request was refused OVERLOADED. */
export type ShedReason = 'peer-limit' | 'queue-age' | 'queue-full';

/** What admission reports of its decisions. */
export interface AdmissionHost {
  /** Starts a request that waited `waited` ms (0: started as it was read). */
  start(session: DownstreamSession, env: Envelope, waited: number): void;
  shed(waiting: Waiting, reason: ShedReason): void;
  /** A waiting request left the queue without starting (cancelled, shed, abandoned, its session gone). */
  forgotten(waiting: Waiting): void;
}

/**
 * The admission state of the server:
 * - `flowing`: requests start as they are read;
 * - `queueing` (since the queue formed): this turn's handler time is used up:
 *   requests wait for a later turn, oldest first (newest first while they
 *   surge in: see {@link Admission} `judge`); one whose caller's deadline
 *   passed never starts;
 * - `overloaded`: the queue did not empty for `intervalMs` while requests
 *   surged in: newest first (its caller is the most likely still to be
 *   waiting), in turns of at most half of `queueTarget`, and a request that
 *   waited longer than `queueTarget` (and `deadlineShare` of its deadline) is
 *   shed with OVERLOADED, so its caller hears early instead of timing out and
 *   the calls served stay about as fast as unloaded. `pressure` is the last
 *   time a turn ended with requests still waiting: the state lasts until a
 *   whole `intervalMs` passes without, so a queue that empties for a moment
 *   under sustained load does not let the next requests pile up oldest first.
 */
export type AdmissionState =
  | { readonly kind: 'flowing' }
  | { readonly kind: 'queueing'; readonly since: number }
  | { readonly kind: 'overloaded'; readonly since: number; readonly pressure: number };

/** How requests came in during half an interval, against how many started (see `judge`). */
type Inflow = 'none' | 'growing' | 'surging';

/** The CPU time (ms) this process used so far, all threads (see the `cpu` of {@link Admission}). */
export const processCpuTime = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Requests a turn may start at first, and at most; the figure adapts between them. */
export const INITIAL_TURN_BUDGET = 8;
export const MAX_TURN_BUDGET = 8_192;

/**
 * Admission control (controlled delay over a server-side queue, with
 * adaptive LIFO under overload). A server that reads requests faster than its
 * handlers finish keeps the backlog here, where each request's age is known,
 * instead of in the sockets' buffers, where it is not.
 *
 * Handlers run after they are started (Nest's pipeline takes microtasks), so
 * the time a start costs is only seen at the end of the turn: each turn may
 * start a budget of requests; after a turn that took longer than its slice
 * ({@link turnSlice}) the budget is what would have fit at that turn's cost
 * per start, after one that fit with its budget used up it grows by an
 * eighth (at least one).
 */
export class Admission {
  private state: AdmissionState = { kind: 'flowing' };
  private queue: Waiting[] = [];
  private head = 0;
  /** When this turn's first request started (undefined: none started in this turn yet), and the CPU time then. */
  private turnStart: number | undefined;
  private turnCpu = 0;
  private turnScheduled = false;
  /** Requests this turn may start, and has started. */
  private budget = INITIAL_TURN_BUDGET;
  private startedThisTurn = 0;
  /** Requests read and started in the current half interval, and when it began. */
  private arrivals = 0;
  private starts = 0;
  private windowStart = 0;
  /** The inflow of the half interval before the current one. */
  private inflowBefore: Inflow = 'none';
  private drainScheduled = false;
  /** Requests not started because their caller's deadline passed while they waited. */
  abandoned = 0;
  /** Requests in the sessions' waiting maps (the queue also keeps gone ones until they reach its end). */
  private live = 0;
  /** Requests not started because their caller cancelled them while they waited. */
  cancelled = 0;
  /** Requests shed so far, by reason. */
  readonly shedCounts: Record<ShedReason, number> = { 'peer-limit': 0, 'queue-age': 0, 'queue-full': 0 };

  /**
   * @param cpu the CPU time (ms) the process used so far: a turn costs the
   * smaller of its CPU and clock time, so a turn during which the process
   * waited for a core (a busy machine) does not shrink the budget. Without
   * it, turns are measured on `clock` alone.
   */
  constructor(
    private readonly settings: AdmissionSettings,
    private readonly host: AdmissionHost,
    private readonly clock: Clock,
    private readonly yieldTo: Yield,
    private readonly cpu?: () => number,
  ) {}

  get current(): AdmissionState {
    this.settle(this.clock.now());
    return this.state;
  }

  /** How long (ms) the oldest waiting request has waited (0: none waits). */
  get oldestWait(): number {
    for (let i = this.head; i < this.queue.length; i++) {
      const waiting = this.queue[i]!;
      if (!waiting.gone) return this.clock.now() - waiting.at;
    }
    return 0;
  }

  /**
   * How long (ms) a turn should take now: `sliceMs` while requests start as
   * they are read; at most half of `queueTarget` while they wait, so that a
   * request read during one turn starts in the next within the target
   * (handlers started in one turn answer together at its end: a long turn
   * is latency for every call in it).
   */
  get turnSlice(): number {
    const { sliceMs, queueTarget } = this.settings;
    if (this.state.kind !== 'overloaded' || queueTarget <= 0) return sliceMs;
    return Math.min(sliceMs, queueTarget / 2);
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Requests waiting to start: those queued less those cancelled or dropped while they waited. */
  get waiting(): number {
    return this.live;
  }

  /** A REQUEST was read: start it now, queue it, or refuse it. */
  admit(session: DownstreamSession, env: Envelope): void {
    const limit = this.settings.maxCallsPerPeer;
    if (limit > 0 && session.calls.size + session.waiting.size >= limit) {
      return this.refuse({ session, env, at: this.clock.now(), gone: false }, 'peer-limit');
    }
    const now = this.clock.now();
    this.arrivals++;
    this.settle(now);
    if (this.queued === 0 && this.state.kind !== 'queueing' && this.hasTurnRoom(now)) {
      this.startedThisTurn++;
      this.starts++;
      return this.host.start(session, env, 0); // as read: no wait, nothing allocated
    }
    const waiting: Waiting = { session, env, at: now, gone: false };
    session.waiting.set(env.id, waiting);
    this.live++;
    this.queue.push(waiting);
    if (this.state.kind === 'flowing') {
      this.move({ kind: 'queueing', since: now });
      // Inflow is judged over the half intervals since the queue formed, not over the time it flowed.
      this.arrivals = 1;
      this.starts = 0;
      this.windowStart = now;
      this.inflowBefore = 'none';
    }
    if (this.queued > this.settings.maxQueued) this.shedOldest('queue-full');
    this.scheduleDrain();
  }

  /** A waiting request was cancelled (CANCEL, deadline, session end): it will not start. */
  /** The caller cancelled a waiting request: it never starts. */
  cancel(waiting: Waiting): void {
    this.cancelled++;
    this.forget(waiting);
  }

  forget(waiting: Waiting): void {
    waiting.gone = true;
    if (waiting.session.waiting.delete(waiting.env.id)) this.live--;
    this.host.forgotten(waiting);
  }

  /** Drops every waiting request (close). */
  clear(): void {
    for (let i = this.head; i < this.queue.length; i++) this.forget(this.queue[i]!);
    this.queue = [];
    this.head = 0;
  }

  /** Requests this turn may start (the budget per turn), and a turn boundary to adapt it at. */
  get turnBudget(): number {
    return this.budget;
  }

  private hasTurnRoom(now: number): boolean {
    if (this.turnStart === undefined) {
      this.beginTurn(now);
      if (!this.turnScheduled) {
        this.turnScheduled = true;
        this.yieldTo(this.endTurn);
      }
    }
    return this.startedThisTurn < this.budget;
  }

  private readonly endTurn = (): void => {
    this.turnScheduled = false;
    this.closeTurn(this.clock.now());
  };

  private beginTurn(now: number): void {
    this.turnStart = now;
    if (this.cpu !== undefined) this.turnCpu = this.cpu();
  }

  /** A turn is over: the budget adapts to how long it took. */
  private closeTurn(now: number): void {
    const start = this.turnStart;
    if (start !== undefined && this.startedThisTurn > 0) {
      const took = this.cpu === undefined ? now - start : Math.min(now - start, this.cpu() - this.turnCpu);
      const slice = this.turnSlice;
      if (took > slice) {
        // As many as would have fit, at what they cost in this turn.
        const fit = Math.floor((Math.min(this.budget, this.startedThisTurn) * slice) / took);
        this.budget = Math.max(1, fit);
      } else if (this.startedThisTurn >= this.budget) {
        this.budget = Math.min(MAX_TURN_BUDGET, this.budget + Math.max(1, Math.floor(this.budget / 8)));
      }
    }
    this.turnStart = undefined;
    this.startedThisTurn = 0;
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    this.yieldTo(this.drain);
    this.yieldTo(this.drained);
  }

  /** One turn's budget of waiting requests: started, newest first while overloaded; the stale shed. */
  private readonly drain = (): void => {
    this.drainScheduled = false;
    const now = this.clock.now();
    this.closeTurn(now);
    this.beginTurn(now);
    this.judge(now);
    this.shedStale(now);
    // Newest first while overloaded, and already while requests surge in (the last half interval): the onset of
    // an overload serves fresh requests instead of working through a growing queue oldest first.
    const lifo = this.state.kind === 'overloaded' || this.inflowBefore === 'surging';
    while (this.queued > 0 && this.startedThisTurn < this.budget) {
      const waiting = lifo ? this.queue.pop() : this.queue[this.head++];
      if (waiting === undefined) break;
      if (waiting.gone) continue;
      if (waiting.session.waiting.delete(waiting.env.id)) this.live--;
      this.startedThisTurn++;
      this.starts++;
      this.host.start(waiting.session, waiting.env, now - waiting.at);
    }
    this.compact();
    if (this.queued > 0) {
      // The turn could not start everything that waits: while overloaded, that is the pressure that keeps it so.
      const state = this.state;
      if (state.kind === 'overloaded') this.move({ ...state, pressure: now });
      this.scheduleDrain();
    } else if (this.state.kind === 'queueing') this.move({ kind: 'flowing' });
  };

  /**
   * Closes a drain's turn right after it, once the handlers it started ran
   * (in the microtasks that follow it): the turn measured is their time, not
   * the reading of new requests before the next drain, whose cost grows
   * with the arrivals and would shrink the budget under overload.
   */
  private readonly drained = (): void => this.closeTurn(this.clock.now());

  /**
   * Overload ends once a whole interval passed without pressure: to
   * `flowing` when nothing waits, else `queueing`.
   */
  private settle(now: number): void {
    const state = this.state;
    if (state.kind !== 'overloaded' || now - state.pressure < this.settings.intervalMs) return;
    this.move(this.queued === 0 ? { kind: 'flowing' } : { kind: 'queueing', since: now });
  }

  /**
   * Twice per interval, the inflow of the last half interval is judged:
   * `surging` when more than a quarter more requests arrived than started,
   * `growing` when more arrived than started. The server is overloaded when
   * the queue has not emptied for a whole interval and requests surged in
   * during each of the last two half intervals (the onset of an overload,
   * caught early), or more kept arriving than started while the oldest
   * waiting request waited a whole interval (an overload whose requests come
   * in bursts, or grow little by little).
   *
   * What is no overload: a burst being worked off with nothing more coming
   * (the half intervals after it see no inflow) is served whole within its
   * callers' deadlines (one read over a longer time is, and `deadlineShare`
   * keeps it from being shed while its callers can wait); callers in closed loops (each sends again when
   * answered) keep a queue as long as their calls in flight, which does not
   * surge: served oldest first while it waits less than an interval.
   */
  private judge(now: number): void {
    if (now - this.windowStart < this.settings.intervalMs / 2) return;
    const { arrivals, starts } = this;
    const inflow: Inflow =
      arrivals > starts + Math.max(1, starts / 4) ? 'surging' : arrivals > starts ? 'growing' : 'none';
    const before = this.inflowBefore;
    this.inflowBefore = inflow;
    this.arrivals = 0;
    this.starts = 0;
    this.windowStart = now;
    const state = this.state;
    const { queueTarget, intervalMs } = this.settings;
    if (queueTarget <= 0) return;
    if (state.kind !== 'queueing') return this.settle(now);
    if (now - state.since < intervalMs || inflow === 'none') return;
    const surged = inflow === 'surging' && before === 'surging';
    if (surged || this.oldestWait >= intervalMs) this.move({ kind: 'overloaded', since: now, pressure: now });
  }

  /**
   * Sheds, oldest first, the waiting requests that waited longer than they
   * may (overloaded only); those whose caller's deadline passed are dropped
   * unstarted in any state (their callers gave up).
   */
  private shedStale(now: number): void {
    const overloaded = this.state.kind === 'overloaded' && this.settings.queueTarget > 0;
    while (this.queued > 0) {
      const oldest = this.queue[this.head]!;
      if (!oldest.gone) {
        const waited = now - oldest.at;
        const deadline = oldest.env.deadline ?? this.settings.assumedDeadline;
        if (waited >= deadline) {
          this.head++;
          this.forget(oldest);
          this.abandoned++;
          continue;
        }
        const allowed = Math.max(this.settings.queueTarget, deadline * this.settings.deadlineShare);
        if (!overloaded || waited <= allowed) return;
      }
      this.head++;
      if (!oldest.gone) this.refuse(oldest, 'queue-age');
    }
  }

  private shedOldest(reason: ShedReason): void {
    while (this.queued > 0) {
      const oldest = this.queue[this.head++]!;
      if (oldest.gone) continue;
      return this.refuse(oldest, reason);
    }
  }

  private refuse(waiting: Waiting, reason: ShedReason): void {
    this.forget(waiting);
    this.shedCounts[reason]++;
    this.host.shed(waiting, reason);
  }

  private compact(): void {
    if (this.head === 0) return;
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** The one place the admission state changes. */
  private move(next: AdmissionState): void {
    if (next.kind !== this.state.kind || next.kind === 'overloaded') this.state = next;
  }
}
