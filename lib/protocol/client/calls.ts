import { ZmqTimeoutError } from '../../errors/zmq.errors.js';
import { Clock, Scheduler } from '../clock.js';
import { RequestTracker } from '../request-tracker.js';
import type { GrantCounter } from '../stream-grants.js';
import type { UpstreamLink } from './upstream-link.js';

/** What a call's subscriber is told: Nest's `WritePacket` shape. */
export interface ReplyPacket {
  err?: unknown;
  response?: unknown;
  isDisposed?: boolean;
}

export type ReplyCallback = (packet: ReplyPacket) => void;

/** One request in flight. */
export interface PendingCall {
  readonly id: number;
  readonly link: UpstreamLink;
  readonly pattern: string;
  readonly callback: ReplyCallback;
  /** The reply stream's grants (§5.8), from its first CHUNK on a session that took `credit`. */
  grants?: GrantCounter;
  /** The request stream this call sends (§5.9): stopped when the call ends, however it ends. */
  upload?: { stop(): void; grant(n: number): void };
}

/**
 * The client's calls in flight: their ids, deadlines (`requestTimeout` after
 * the last reply message) and each link's pending count. Every way a call
 * ends goes through here, so the count and the subscriber stay in step, and
 * a subscriber that throws never reaches the receive loop.
 */
export class CallRegistry {
  private readonly tracker: RequestTracker<PendingCall>;

  constructor(
    private readonly timeoutMs: number,
    /** Called for a call that timed out, after it was removed (the engine sends CANCEL). */
    private readonly onTimeout: (call: PendingCall) => void,
    private readonly onSubscriberError: (call: PendingCall, err: unknown) => void,
    clock: Clock,
    scheduler: Scheduler,
  ) {
    this.tracker = new RequestTracker<PendingCall>(timeoutMs, (_id, call) => this.expire(call), clock, scheduler);
  }

  get size(): number {
    return this.tracker.size;
  }

  /** A request id free on every link. */
  nextId(): number {
    return this.tracker.nextId();
  }

  add(call: PendingCall): void {
    this.tracker.add(call.id, call);
    call.link.pending++;
  }

  get(id: number): PendingCall | undefined {
    return this.tracker.get(id);
  }

  /** A reply message arrived for `id`: its deadline starts again. */
  touch(id: number): void {
    this.tracker.touch(id);
  }

  /** Removes the call; `undefined` when it had already ended. */
  settle(id: number): PendingCall | undefined {
    const call = this.tracker.delete(id);
    if (call !== undefined) {
      call.link.pending--;
      call.upload?.stop();
    }
    return call;
  }

  /** Tells the subscriber; the call stays open unless `packet.isDisposed`. */
  deliver(call: PendingCall, packet: ReplyPacket): void {
    try {
      call.callback(packet);
    } catch (err) {
      this.onSubscriberError(call, err);
    }
  }

  /** Removes the call and ends it with `err`; false when it had already ended. */
  fail(id: number, err: unknown): boolean {
    const call = this.settle(id);
    if (call === undefined) return false;
    this.deliver(call, { err, isDisposed: true });
    return true;
  }

  /** Ends every call on `link` with `err`. */
  failLink(link: UpstreamLink, err: unknown): void {
    for (const call of this.tracker.drainWhere(c => c.link === link)) {
      call.upload?.stop();
      this.deliver(call, { err, isDisposed: true });
    }
    link.pending = 0;
  }

  /** Ends every call with `err`. */
  failAll(err: unknown): void {
    for (const call of this.tracker.drain()) {
      call.link.pending = 0;
      call.upload?.stop();
      this.deliver(call, { err, isDisposed: true });
    }
  }

  private expire(call: PendingCall): void {
    call.link.pending--;
    call.upload?.stop();
    this.onTimeout(call);
    this.deliver(call, { err: new ZmqTimeoutError(call.pattern, this.timeoutMs), isDisposed: true });
  }
}
