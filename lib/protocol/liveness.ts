import { Clock, monotonicClock, realScheduler, Scheduler } from './clock.js';
import { HeartbeatSettings } from './handshake.js';

/** What the heartbeat keeps per peer; both times come from the injected clock. */
export interface LivenessState {
  /** When anything was last received from the peer. */
  lastSeen: number;
  /** When this side last sent the peer a PING. */
  lastPing: number;
}

/** What to do about one peer at one moment. */
export const enum Verdict {
  Alive = 0,
  /** Silent for an interval or more, and not pinged within the last interval. */
  Ping = 1,
  /** Silent for `interval × liveness` or more. */
  Dead = 2,
}

/**
 * The heartbeat rules of docs/PROTOCOL.md §10, with no timers and no sockets:
 * any traffic is a sign of life; after one silent interval the peer is
 * pinged (at most once per interval), and after `liveness` silent intervals
 * it is dead. PONG answers count as traffic, so a side that hears nothing
 * makes the other side talk, and both sides detect a dead peer on their own.
 */
export class HeartbeatPolicy {
  readonly interval: number;
  /** Silence, in ms, after which a peer is dead. */
  readonly deadAfter: number;

  constructor(settings: HeartbeatSettings) {
    this.interval = settings.interval;
    this.deadAfter = settings.interval * settings.liveness;
  }

  fresh(now: number): LivenessState {
    return { lastSeen: now, lastPing: now };
  }

  check(state: LivenessState, now: number): Verdict {
    const silent = now - state.lastSeen;
    if (silent >= this.deadAfter) return Verdict.Dead;
    if (silent >= this.interval && now - state.lastPing >= this.interval) return Verdict.Ping;
    return Verdict.Alive;
  }
}

export interface HeartbeatHandlers<P extends LivenessState> {
  /** The peers to watch right now (read at every tick). */
  peers(): Iterable<P>;
  ping(peer: P): void;
  dead(peer: P): void;
}

/**
 * Drives a {@link HeartbeatPolicy}: one timer per side, ticking twice per
 * interval, so a dead peer is declared at most `interval × (liveness + 1)`
 * after it fell silent (in practice within `interval × (liveness + ½)`).
 *
 * If this process itself did not run for longer than the dead window (it was
 * SIGSTOP'd, or a handler blocked the event loop), the silence is its own,
 * not the peers': they get a fresh window instead of being declared dead,
 * since what they sent meanwhile is still waiting to be read.
 */
export class Heartbeat<P extends LivenessState> {
  readonly policy: HeartbeatPolicy;
  private readonly period: number;
  private timer: unknown = undefined;
  private active = false;
  private lastTick = 0;

  constructor(
    settings: HeartbeatSettings,
    private readonly handlers: HeartbeatHandlers<P>,
    readonly clock: Clock = monotonicClock,
    private readonly scheduler: Scheduler = realScheduler,
  ) {
    this.policy = new HeartbeatPolicy(settings);
    this.period = Math.max(1, Math.floor(settings.interval / 2));
  }

  get running(): boolean {
    return this.active;
  }

  /** A state for a peer that was just heard from. */
  fresh(): LivenessState {
    return this.policy.fresh(this.clock.now());
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.lastTick = this.clock.now();
    this.arm();
  }

  stop(): void {
    this.active = false;
    if (this.timer === undefined) return;
    this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs one check of every peer now (the timer calls this). */
  tick(): void {
    const now = this.clock.now();
    const stalled = now - this.lastTick > this.policy.deadAfter;
    this.lastTick = now;
    // A copy: `dead` removes peers from the collection being walked.
    for (const peer of [...this.handlers.peers()]) {
      if (stalled) {
        peer.lastSeen = Math.max(peer.lastSeen, now - this.policy.interval);
        continue;
      }
      const verdict = this.policy.check(peer, now);
      if (verdict === Verdict.Dead) {
        this.handlers.dead(peer);
      } else if (verdict === Verdict.Ping) {
        peer.lastPing = now;
        this.handlers.ping(peer);
      }
    }
  }

  private arm(): void {
    this.timer = this.scheduler.setTimeout(() => {
      this.timer = undefined;
      try {
        this.tick();
      } finally {
        if (this.active) this.arm();
      }
    }, this.period);
  }
}
