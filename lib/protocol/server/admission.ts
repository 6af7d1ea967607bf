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
   */
  readonly sliceMs: number;
  /**
   * While overloaded, a request is shed once it waited longer than both this
   * (ms) and `deadlineShare` of its caller's deadline.
   */
  readonly queueTarget: number;
  /** The share of a caller's deadline a request may wait while the server is overloaded. */
  readonly deadlineShare: number;
  /** The deadline (ms) assumed for a request that carries none. */
  readonly assumedDeadline: number;
  /**
   * A queue that has not emptied for this long (ms) means overload; it is also
   * the longest wait a request may have while the server is not overloaded.
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
 * - `queueing`: this turn's handler time is used up: requests wait, oldest
 *   first, for the next turn; one whose caller's deadline passed never starts;
 * - `overloaded`: the queue has not emptied for `intervalMs`: the newest
 *   request is served first (its caller is the most likely still to be
 *   waiting), and a request that waited longer than `queueTarget` and
 *   `deadlineShare` of its deadline is shed with OVERLOADED, so its caller
 *   hears early instead of timing out. A burst that its callers' deadlines
 *   leave time for is served whole.
 */
export type AdmissionState =
  | { readonly kind: 'flowing' }
  | { readonly kind: 'queueing'; readonly since: number }
  | { readonly kind: 'overloaded'; readonly since: number };

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
 * start a budget of requests; after a turn that took longer than `sliceMs`
 * the budget is half of what that turn started, after one that fit with its
 * budget used up it grows by an eighth.
 */
export class Admission {
  private state: AdmissionState = { kind: 'flowing' };
  private queue: Waiting[] = [];
  private head = 0;
  /** When this turn's first request started (undefined: none started in this turn yet). */
  private turnStart: number | undefined;
  private turnScheduled = false;
  /** Requests this turn may start, and has started. */
  private budget = INITIAL_TURN_BUDGET;
  private startedThisTurn = 0;
  /** Requests read and started in the current interval, and when it began. */
  private arrivals = 0;
  private starts = 0;
  private windowStart = 0;
  private drainScheduled = false;
  /** Requests not started because their caller's deadline passed while they waited. */
  abandoned = 0;
  /** Requests shed so far, by reason. */
  readonly shedCounts: Record<ShedReason, number> = { 'peer-limit': 0, 'queue-age': 0, 'queue-full': 0 };

  constructor(
    private readonly settings: AdmissionSettings,
    private readonly host: AdmissionHost,
    private readonly clock: Clock,
    private readonly yieldTo: Yield,
  ) {}

  get current(): AdmissionState {
    return this.state;
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** A REQUEST was read: start it now, queue it, or refuse it. */
  admit(session: DownstreamSession, env: Envelope): void {
    const limit = this.settings.maxCallsPerPeer;
    if (limit > 0 && session.calls.size + session.waiting.size >= limit) {
      return this.refuse({ session, env, at: this.clock.now(), gone: false }, 'peer-limit');
    }
    const now = this.clock.now();
    this.arrivals++;
    if (this.queued === 0 && this.state.kind === 'flowing' && this.hasTurnRoom(now)) {
      this.startedThisTurn++;
      this.starts++;
      return this.host.start(session, env, 0); // as read: no wait, nothing allocated
    }
    const waiting: Waiting = { session, env, at: now, gone: false };
    session.waiting.set(env.id, waiting);
    this.queue.push(waiting);
    if (this.state.kind === 'flowing') this.move({ kind: 'queueing', since: now });
    if (this.queued > this.settings.maxQueued) this.shedOldest('queue-full');
    this.scheduleDrain();
  }

  /** A waiting request was cancelled (CANCEL, deadline, session end): it will not start. */
  forget(waiting: Waiting): void {
    waiting.gone = true;
    waiting.session.waiting.delete(waiting.env.id);
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
      this.turnStart = now;
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

  /** A turn is over: the budget adapts to how long it took. */
  private closeTurn(now: number): void {
    const start = this.turnStart;
    if (start !== undefined && this.startedThisTurn > 0) {
      if (now - start > this.settings.sliceMs) {
        this.budget = Math.max(1, Math.floor(Math.min(this.budget, this.startedThisTurn) / 2));
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
  }

  /** One turn's budget of waiting requests: started, newest first when overloaded; the stale shed. */
  private readonly drain = (): void => {
    this.drainScheduled = false;
    const now = this.clock.now();
    this.closeTurn(now);
    this.turnStart = now;
    this.judge(now);
    this.shedStale(now);
    while (this.queued > 0 && this.startedThisTurn < this.budget) {
      const waiting = this.state.kind === 'overloaded' ? this.queue.pop() : this.queue[this.head++];
      if (waiting === undefined) break;
      if (waiting.gone) continue;
      waiting.session.waiting.delete(waiting.env.id);
      this.startedThisTurn++;
      this.starts++;
      this.host.start(waiting.session, waiting.env, now - waiting.at);
    }
    this.compact();
    if (!this.turnScheduled) {
      this.turnScheduled = true;
      this.yieldTo(this.endTurn);
    }
    if (this.queued > 0) return this.scheduleDrain();
    this.move({ kind: 'flowing' });
  };

  /**
   * Once per interval: overloaded while the queue has not emptied for a whole
   * interval and requests kept arriving at least as fast as they started (a
   * standing queue under inflow); a burst that is being worked off, with
   * nothing more coming, is not overload and keeps its callers' deadlines.
   */
  private judge(now: number): void {
    if (now - this.windowStart < this.settings.intervalMs) return;
    const inflow = this.arrivals > 0 && this.arrivals >= this.starts;
    this.arrivals = 0;
    this.starts = 0;
    this.windowStart = now;
    const state = this.state;
    if (this.settings.queueTarget <= 0) return;
    if (state.kind === 'queueing' && inflow && now - state.since >= this.settings.intervalMs)
      this.move({ kind: 'overloaded', since: now });
    else if (state.kind === 'overloaded' && !inflow) this.move({ kind: 'queueing', since: now });
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
    if (next.kind !== this.state.kind) this.state = next;
  }
}
