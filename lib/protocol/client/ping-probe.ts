import { ZmqError, ZmqPeerLostError, ZmqTimeoutError } from '../../errors/zmq.errors.js';
import { type Clock, realScheduler, type Scheduler } from '../clock.js';

/**
 * PINGs sent and PONGs received in one session. A peer answers every PING
 * with a PONG, in order, on one connection (docs/PROTOCOL.md §10), so the n-th
 * PONG answers the n-th PING, whether the heartbeat or a probe sent it. A
 * PONG that never comes (the session ended, a probe timed out) is forgotten
 * with {@link reset}, so later PINGs are matched again.
 */
export class PongTracker {
  private sent = 0;
  private received = 0;
  private waiters: Array<{ seq: number; done: (answered: boolean) => void }> = [];

  /** Counts a PING that went out; returns its number. */
  pinged(): number {
    return ++this.sent;
  }

  /** A PONG arrived: it answers the oldest unanswered PING (one with none outstanding is ignored). */
  ponged(): void {
    if (this.received === this.sent) return;
    this.received++;
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter(w => w.seq <= this.received);
    this.waiters = this.waiters.filter(w => w.seq > this.received);
    for (const w of due) w.done(true);
  }

  /** Calls `done(true)` when PING number `seq` is answered, `done(false)` on {@link reset}. */
  await(seq: number, done: (answered: boolean) => void): () => void {
    const waiter = { seq, done };
    this.waiters.push(waiter);
    return () => (this.waiters = this.waiters.filter(w => w !== waiter));
  }

  /** After a probe timed out: forgets the outstanding PINGs unless another probe still waits for one. */
  resync(): void {
    if (this.waiters.length === 0) this.received = this.sent;
  }

  /** The session ended: every outstanding PING is forgotten, and its waiters get `false`. */
  reset(): void {
    this.received = this.sent;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.done(false);
  }
}

/** What a probe needs of a link. */
export interface Probeable {
  readonly endpoint: string;
  readonly welcome: { readonly id: string } | undefined;
  readonly pongs: PongTracker;
  /** Sends a PING, counted by `pongs`; its number, or `undefined` when it could not go out. */
  ping(): number | undefined;
}

/** The outcome of a PING round trip to one server (`client.ping()`). */
export interface ZmqPingResult {
  peerId: string;
  endpoint: string;
  /** Milliseconds from the PING to its PONG; absent when there was none. */
  rttMs?: number;
  /** Why there was no PONG: `TIMEOUT`, or `PEER_LOST` (the session ended, or the PING could not be sent). */
  error?: ZmqError;
}

/**
 * Sends one PING on the link and resolves with the time to its PONG, or
 * with the error that stopped it: no PONG within `timeoutMs` (TIMEOUT), the
 * session ended first or the PING could not be queued (PEER_LOST).
 * Never rejects.
 */
export function probe(link: Probeable, clock: Clock, scheduler: Scheduler, timeoutMs: number): Promise<ZmqPingResult> {
  const peerId = link.welcome?.id ?? '';
  const base = { peerId, endpoint: link.endpoint };
  const start = clock.now();
  const seq = link.ping();
  if (seq === undefined) {
    return Promise.resolve({ ...base, error: new ZmqPeerLostError(peerId, 'disconnect') });
  }
  return new Promise(resolve => {
    const timer = scheduler.setTimeout(() => {
      stop();
      link.pongs.resync();
      resolve({ ...base, error: new ZmqTimeoutError('PING', timeoutMs) });
    }, timeoutMs);
    const stop = link.pongs.await(seq, answered => {
      scheduler.clearTimeout(timer);
      resolve(
        answered
          ? { ...base, rttMs: clock.now() - start }
          : { ...base, error: new ZmqPeerLostError(peerId, 'disconnect') },
      );
    });
  });
}

/** One {@link probe} per link with a session, all at once. */
export function probeAll(
  links: readonly Probeable[],
  clock: Clock,
  timeoutMs: number,
  scheduler: Scheduler = realScheduler,
): Promise<ZmqPingResult[]> {
  return Promise.all(links.filter(l => l.welcome !== undefined).map(l => probe(l, clock, scheduler, timeoutMs)));
}
