import { ZmqError } from '../../errors/zmq.errors.js';
import type { ZmqPeerEvent, ZmqPeerInfo, ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import type { Channel, SessionObserver } from '../channel.js';
import type { OutEnvelope } from '../frames.js';
import type { LinkHello } from './hello.js';
import { type Scheduler, settleWithin } from '../clock.js';
import { BYE, PING } from '../envelopes.js';
import { LinkHealth } from './link-health.js';
import { PongTracker } from './ping-probe.js';
import { BYE_ACK_FEATURE, DEADLINE_FEATURE, hasFeature, type Welcome } from '../handshake.js';
import { peerWindow } from '../credit.js';
import { MSGPACK_FEATURE } from '../msgpack.js';
import type { LivenessState } from '../liveness.js';

/**
 * The lifecycle of one link (docs/PROTOCOL.md, client link table):
 * - `handshaking`: no session; a HELLO was queued at `helloAt` (and, if the
 *   server challenged it, the HELLO that answers: the link waits for WELCOME
 *   either way). `fastUntil`: its server just left and is expected back, so
 *   it reconnects fast until then;
 * - `ready`: the server's WELCOME arrived, requests may go out;
 * - `draining`: the server said DRAIN (§5.6): the session is up and the calls
 *   in flight get their replies, but new requests go elsewhere while another
 *   server can take them;
 * - `retiring`: its endpoint was removed (or its address vanished): never
 *   chosen again, it closes once its calls in flight ended or at `deadline`;
 * - `refused`: the server refused the handshake (or speaks another version);
 *   at `retryAt` it says HELLO again (a refusal may pass: an id held a moment
 *   longer, a full handshake budget, an allow-list updated), never after a
 *   version mismatch or a refusal that ended a session;
 * - `closing`: the client said BYE and waits for the server's answering BYE (`bye-ack`);
 * - `closed`: the client closed; nothing goes out any more.
 */
export type LinkState =
  | { readonly kind: 'handshaking'; readonly helloAt: number; readonly fastUntil: number | undefined }
  | ({ readonly kind: 'ready' } & LinkSession)
  | ({ readonly kind: 'draining' } & LinkSession)
  | { readonly kind: 'retiring'; readonly deadline: number; readonly session: LinkSession | undefined }
  | { readonly kind: 'refused'; readonly error: ZmqError; readonly retryAt: number | undefined }
  | { readonly kind: 'closing'; readonly acknowledged: () => void }
  | { readonly kind: 'closed' };

export type LinkKind = LinkState['kind'];

/** The moves a link may make; {@link UpstreamLink} refuses any other. */
export const LINK_MOVES: Readonly<Record<LinkKind, readonly LinkKind[]>> = {
  handshaking: ['handshaking', 'ready', 'refused', 'closing', 'closed'],
  ready: ['ready', 'draining', 'handshaking', 'retiring', 'refused', 'closing', 'closed'],
  draining: ['ready', 'handshaking', 'retiring', 'refused', 'closing', 'closed'],
  retiring: ['retiring', 'closing', 'closed'],
  refused: ['handshaking', 'refused', 'closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

/** A session, as the server's WELCOME set it up. */
export interface LinkSession {
  readonly welcome: Welcome;
  readonly serves: ReadonlySet<string>;
  readonly handles: ReadonlySet<string>;
  /** Patterns the server declared idempotent: their calls may be retried elsewhere. */
  readonly idempotent: ReadonlySet<string>;
  readonly msgpack: boolean;
  readonly deadlines: boolean;
  readonly byeAck: boolean;
  /** The server's window when the session took `credit` (§6): a request stream's first credit. */
  readonly window: number | undefined;
}

const NONE: ReadonlySet<string> = new Set();

/** Long before any clock reading: a link that lost its session may say HELLO at once. */
const NEVER = Number.NEGATIVE_INFINITY;

/**
 * One DEALER channel to one server endpoint and the session over it. It owns
 * its HELLO (sent, retried) and the state transitions; the engine decides
 * what each transition means for calls and peer events.
 */
export class UpstreamLink implements LivenessState {
  private current: LinkState;
  /** Liveness of the session (meaningful while `ready`). */
  lastSeen = 0;
  lastPing = 0;
  /** Requests in flight on this link (kept by the calls registry). */
  pending = 0;
  private refusals = 0;
  /** Matches PONGs to PINGs, for the round trips of `client.ping()`. */
  readonly pongs = new PongTracker();
  /** What its calls say of the server: throttling and outlier ejection. */
  readonly health = new LinkHealth();

  constructor(
    readonly endpoint: string,
    readonly channel: Channel,
    private readonly hello: LinkHello,
    private readonly observer: SessionObserver,
    /** Its server just left: the end of the window in which it reconnects fast. */
    fastUntil?: number,
  ) {
    this.current = { kind: 'handshaking', helloAt: NEVER, fastUntil };
  }

  get state(): LinkState {
    return this.current;
  }

  /**
   * The one place the state changes: false (and no change) when the move is
   * not one of {@link LINK_MOVES} — a closed link stays closed whatever
   * arrives late.
   */
  private to(next: LinkState): boolean {
    if (!LINK_MOVES[this.current.kind].includes(next.kind)) return false;
    this.current = next;
    return true;
  }

  /** The session while one is up (ready, draining, or retiring with its calls in flight). */
  private get session(): LinkSession | undefined {
    const state = this.current;
    if (state.kind === 'retiring') return state.session;
    return state.kind === 'ready' || state.kind === 'draining' ? state : undefined;
  }

  /** The end of the fast reconnect window while handshaking in one. */
  get fastUntil(): number | undefined {
    return this.current.kind === 'handshaking' ? this.current.fastUntil : undefined;
  }

  /** The fast reconnect window is over (or no longer needed). */
  endFastWindow(): void {
    const state = this.current;
    if (state.kind === 'handshaking' && state.fastUntil !== undefined) this.to({ ...state, fastUntil: undefined });
  }

  /**
   * Takes the link out of routing until it closes at `deadline` or when its
   * calls in flight ended; false when it has no calls to wait for (close it now).
   */
  retire(deadline: number): boolean {
    const session = this.session;
    if (session === undefined || this.pending === 0) return false;
    return this.to({ kind: 'retiring', deadline, session });
  }

  /** The server's WELCOME while a session is up (ready, draining or retiring). */
  get welcome(): Welcome | undefined {
    return this.session?.welcome;
  }

  /** A session is up and the server takes new requests. */
  get isReady(): boolean {
    return this.current.kind === 'ready';
  }

  /** The server said DRAIN: it finishes what it has and takes new requests only when no other server can. */
  get isDraining(): boolean {
    return this.current.kind === 'draining';
  }

  get refusal(): ZmqError | undefined {
    return this.current.kind === 'refused' ? this.current.error : undefined;
  }

  /** Whether this session's WELCOME accepted MessagePack: object payloads go as encoding 4. */
  get msgpack(): boolean {
    return this.session?.msgpack === true;
  }

  /** Whether this session's WELCOME accepted `bye-ack`: a BYE is answered with a BYE, both ways. */
  get byeAck(): boolean {
    return this.session?.byeAck === true;
  }

  /** Whether this session's WELCOME accepted deadlines: requests carry the caller's remaining time. */
  get deadlines(): boolean {
    return this.session?.deadlines === true;
  }

  /** The server's window while a session that took `credit` is up; `undefined` without flow control. */
  get window(): number | undefined {
    return this.session?.window;
  }

  /** Whether the server declared `pattern` idempotent (a session is up). */
  isIdempotent(pattern: string): boolean {
    return this.session?.idempotent.has(pattern) === true;
  }

  /** Whether a session is up and the server serves (`serves`) or handles (`handles`) the pattern. */
  offers(pattern: string, kind: 'serves' | 'handles'): boolean {
    return this.session?.[kind].has(pattern) === true;
  }

  /** The server said DRAIN: true when the link was ready (it is draining from here). */
  drain(): boolean {
    return this.current.kind === 'ready' && this.to({ ...this.current, kind: 'draining' });
  }

  /** Queues HELLO; from here the link is handshaking. */
  sendHello(now: number): void {
    if (this.to({ kind: 'handshaking', helloAt: now, fastUntil: this.fastUntil })) this.trySend(this.hello.first());
  }

  /**
   * The server's CHALLENGE (docs/PROTOCOL.md §12.2): while handshaking, the
   * HELLO whose key proof covers `nonce` goes out at once, and the link goes
   * on waiting for WELCOME (its HELLO retry counts from the HELLO that was
   * challenged). False (nothing sent) in any other state, or when this link
   * proves no key.
   */
  challenged(nonce: string): boolean {
    if (this.current.kind !== 'handshaking') return false;
    const answer = this.hello.answer(nonce);
    return answer !== undefined && this.trySend(answer);
  }

  /**
   * HELLO again if this link has no session, none is waiting in the queue,
   * and the last went out `interval` ago or more (docs/PROTOCOL.md §10).
   */
  retryHello(now: number, interval: number): void {
    if (this.current.kind !== 'handshaking' || this.channel.queued > 0) return;
    if (now - this.current.helloAt < interval) return;
    this.sendHello(now);
  }

  /** The server welcomed us: `joined` when the session is new, `renewed` when one was up. */
  welcomed(welcome: Welcome, now: number): 'joined' | 'renewed' {
    const renewed = this.session !== undefined;
    if (!renewed) this.pongs.reset();
    this.refusals = 0;
    const session: LinkSession = {
      welcome,
      serves: new Set(welcome.patterns),
      handles: new Set(welcome.events),
      idempotent: welcome.idempotent === undefined ? NONE : new Set(welcome.idempotent),
      msgpack: hasFeature(welcome, MSGPACK_FEATURE),
      deadlines: hasFeature(welcome, DEADLINE_FEATURE),
      byeAck: hasFeature(welcome, BYE_ACK_FEATURE),
      window: peerWindow(welcome),
    };
    const state = this.current;
    if (state.kind === 'retiring') this.to({ ...state, session });
    else this.to({ kind: 'ready', ...session });
    this.lastSeen = now;
    this.lastPing = now;
    return renewed ? 'renewed' : 'joined';
  }

  /** Sends a PING (heartbeat or probe); its number for {@link pongs}, or `undefined` when it could not go out. */
  ping(): number | undefined {
    return this.trySend(PING) ? this.pongs.pinged() : undefined;
  }

  /**
   * The server refused the handshake; returns the session that was up, if
   * one was. `retryAt`: when to say HELLO again (`undefined`: never).
   */
  refused(error: ZmqError, retryAt: number | undefined): Welcome | undefined {
    const welcome = this.welcome;
    if (this.to({ kind: 'refused', error, retryAt: welcome === undefined ? retryAt : undefined })) this.refusals++;
    this.pongs.reset();
    return welcome;
  }

  /** Refusals in a row since the last WELCOME: the backoff of the next HELLO. */
  get refusedInARow(): number {
    return this.refusals;
  }

  /** The session ended (BYE, timeout, NOT_READY): returns it, and the link is handshaking again (a retiring one stays retiring, with no session). */
  lost(): Welcome | undefined {
    const welcome = this.welcome;
    const state = this.current;
    if (state.kind === 'retiring') this.to({ ...state, session: undefined });
    else if (welcome !== undefined) this.to({ kind: 'handshaking', helloAt: NEVER, fastUntil: undefined });
    this.pending = 0;
    this.pongs.reset();
    return welcome;
  }

  /**
   * Says BYE if a session is up and ends the link for good; resolves when
   * its channel is closed. With `bye-ack`, it first waits (at most `waitMs`)
   * for the server's answering BYE: then the server has ours, whatever
   * happens to this process next.
   */
  async close(scheduler: Scheduler, waitMs: number): Promise<void> {
    const session = this.session;
    if (session !== undefined) {
      const awaitAnswer = session.byeAck;
      if (this.trySend(BYE, true) && awaitAnswer) {
        await settleWithin(scheduler, waitMs, acknowledged => void this.to({ kind: 'closing', acknowledged }));
      }
    }
    this.to({ kind: 'closed' });
    this.pongs.reset();
    await this.channel.close();
  }

  /** Queues an envelope (`final`: a CANCEL or BYE, with a reserve beyond the limit); a full queue or closed channel is counted, never thrown. */
  trySend(env: OutEnvelope, final = false): boolean {
    if (this.channel.isClosed) return false;
    try {
      this.channel.send(env, undefined, final);
      return true;
    } catch (err) {
      this.observer.drop('sendFailed', `to ${this.endpoint}: ${(err as Error).message}`);
      return false;
    }
  }

  /** The peer as `getPeers()` lists it (only while a session is up). */
  info(): ZmqPeerInfo {
    const welcome = this.welcome!;
    return {
      peerId: welcome.id,
      direction: 'upstream',
      endpoint: this.endpoint,
      metadata: welcome.metadata,
      patterns: welcome.patterns,
      events: welcome.events,
      pending: this.pending,
      ...(this.health.current.kind === 'ejected' ? { ejected: true } : {}),
    };
  }

  /** A `peer:*` event for the session `welcome`. */
  event(welcome: Welcome, reason?: ZmqPeerLeftReason): ZmqPeerEvent {
    return {
      peerId: welcome.id,
      direction: 'upstream',
      endpoint: this.endpoint,
      metadata: welcome.metadata,
      ...(reason !== undefined ? { reason } : {}),
    };
  }
}
