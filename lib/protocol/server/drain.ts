import { Scheduler, settleWithin } from '../clock.js';
import { DRAIN } from '../envelopes.js';
import type { OutEnvelope } from '../frames.js';
import type { DownstreamSession, SessionTable } from './sessions.js';

/**
 * A draining server's wait (docs/PROTOCOL.md §5.6): it told DRAIN to the
 * clients that took `drain` and goes on serving until each has answered
 * DRAIN (a connection keeps order, so every request a client sent before its
 * answer has arrived) or left, and no call is in progress; or until
 * `drainTimeout` has passed, whichever comes first. Then it says BYE.
 */
export class DrainWait {
  private readonly awaited = new Set<string>();
  private settle: (() => void) | undefined;

  private constructor(private readonly sessions: SessionTable) {}

  /** Tells DRAIN to every session that took `drain`; the wait is for each one's answer and every call. */
  static tell(sessions: SessionTable, send: (session: DownstreamSession, env: OutEnvelope) => void): DrainWait {
    const wait = new DrainWait(sessions);
    for (const session of sessions.values()) {
      if (!session.drain) continue;
      send(session, DRAIN);
      wait.awaited.add(session.key);
    }
    return wait;
  }

  /** A client welcomed while draining was told DRAIN: wait for its answer too. Returns true. */
  awaitAnswer(key: string): boolean {
    this.awaited.add(key);
    return true;
  }

  /** The client on `key` answered DRAIN. */
  answered(key: string): void {
    if (this.awaited.delete(key)) this.check();
  }

  /** A call or a session ended: the wait may be over. */
  changed(): void {
    this.check();
  }

  /** Resolves when the wait is over (at once if it already is), or after `ms`. */
  wait(scheduler: Scheduler, ms: number): Promise<void> {
    if (ms <= 0 || this.done()) return Promise.resolve();
    return settleWithin(scheduler, ms, settle => (this.settle = settle));
  }

  private done(): boolean {
    for (const key of this.awaited) if (this.sessions.onConnection(key) === undefined) this.awaited.delete(key);
    return this.awaited.size === 0 && this.sessions.inFlight() === 0;
  }

  private check(): void {
    if (this.settle !== undefined && this.done()) this.settle();
  }
}
