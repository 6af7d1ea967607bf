import { ZmqError } from '../../errors/zmq.errors.js';
import type { ZmqPeerEvent, ZmqPeerInfo, ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import type { Channel, SessionObserver } from '../channel.js';
import { MessageType, type OutEnvelope } from '../frames.js';
import { PROTOCOL_VERSION } from '../limits.js';
import { type Scheduler, settleWithin } from '../clock.js';
import { BYE } from '../envelopes.js';
import {
  BYE_ACK_FEATURE,
  DEADLINE_FEATURE,
  handshakeEnvelope,
  hasFeature,
  type HeartbeatSettings,
  type Welcome,
} from '../handshake.js';
import { CREDIT_FEATURE, peerWindow } from '../credit.js';
import { MSGPACK_FEATURE } from '../msgpack.js';
import type { LivenessState } from '../liveness.js';

/**
 * The session state of one link (docs/PROTOCOL.md §11.1, client table):
 * - `handshaking`: no session; a HELLO was queued at `helloAt`;
 * - `ready`: the server's WELCOME arrived, requests may go out;
 * - `refused`: the server refused the handshake (or speaks another version);
 * - `closing`: the client said BYE and waits for the server's answering BYE (`bye-ack`);
 * - `closed`: the client closed; nothing goes out any more.
 */
export type LinkState =
  | { readonly kind: 'handshaking'; readonly helloAt: number }
  | {
      readonly kind: 'ready';
      readonly welcome: Welcome;
      readonly serves: ReadonlySet<string>;
      readonly handles: ReadonlySet<string>;
      readonly msgpack: boolean;
      readonly deadlines: boolean;
      readonly byeAck: boolean;
      /** The server's window when the session took `credit` (§5.8): a request stream's first credit. */
      readonly window: number | undefined;
    }
  | { readonly kind: 'refused'; readonly error: ZmqError }
  | { readonly kind: 'closing'; readonly acknowledged: () => void }
  | { readonly kind: 'closed' };

/** What a link's HELLO says (docs/PROTOCOL.md §4.1). */
export interface HelloSettings {
  readonly id: string;
  readonly instance: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly heartbeat: Readonly<HeartbeatSettings>;
  readonly msgpack?: boolean;
  /** The client's `streamWindow`, offered with `credit` (undefined: no credit offered). */
  readonly stream?: { readonly window: number | undefined };
}

/**
 * The HELLO of the link to endpoint number `slot`. Its instance is the same
 * across close() / connect() for one endpoint (a reconnecting client is handed
 * its session over) and distinct between endpoints (two links to one server
 * must not take the session from each other).
 */
export function helloFor(settings: HelloSettings, slot: number): OutEnvelope {
  const { id, metadata, heartbeat } = settings;
  const window = settings.stream?.window;
  return handshakeEnvelope(MessageType.Hello, {
    version: PROTOCOL_VERSION,
    id,
    instance: `${settings.instance}/${slot}`,
    metadata: { ...metadata },
    heartbeat,
    features: [
      DEADLINE_FEATURE,
      BYE_ACK_FEATURE,
      ...(settings.msgpack === true ? [MSGPACK_FEATURE] : []),
      ...(window !== undefined ? [CREDIT_FEATURE] : []),
    ],
    ...(window !== undefined ? { window } : {}),
  });
}

/** Long before any clock reading: a link that lost its session may say HELLO at once. */
const NEVER = Number.NEGATIVE_INFINITY;

/**
 * One DEALER channel to one server endpoint and the session over it. It owns
 * its HELLO (sent, retried) and the state transitions; the engine decides
 * what each transition means for calls and peer events.
 */
export class UpstreamLink implements LivenessState {
  private current: LinkState = { kind: 'handshaking', helloAt: NEVER };
  /** Liveness of the session (meaningful while `ready`). */
  lastSeen = 0;
  lastPing = 0;
  /** Requests in flight on this link (kept by the calls registry). */
  pending = 0;

  constructor(
    readonly endpoint: string,
    readonly channel: Channel,
    private readonly hello: OutEnvelope,
    private readonly observer: SessionObserver,
  ) {}

  get state(): LinkState {
    return this.current;
  }

  /** The server's WELCOME while a session is up. */
  get welcome(): Welcome | undefined {
    return this.current.kind === 'ready' ? this.current.welcome : undefined;
  }

  get isReady(): boolean {
    return this.current.kind === 'ready';
  }

  get refusal(): ZmqError | undefined {
    return this.current.kind === 'refused' ? this.current.error : undefined;
  }

  /** Whether this session's WELCOME accepted MessagePack: object payloads go as encoding 4. */
  get msgpack(): boolean {
    return this.current.kind === 'ready' && this.current.msgpack;
  }

  /** Whether this session's WELCOME accepted `bye-ack`: a BYE is answered with a BYE, both ways. */
  get byeAck(): boolean {
    return this.current.kind === 'ready' && this.current.byeAck;
  }

  /** Whether this session's WELCOME accepted deadlines: requests carry the caller's remaining time. */
  get deadlines(): boolean {
    return this.current.kind === 'ready' && this.current.deadlines;
  }

  /** The server's window while a session that took `credit` is up; `undefined` without flow control. */
  get window(): number | undefined {
    return this.current.kind === 'ready' ? this.current.window : undefined;
  }

  /** Whether a session is up and the server serves (`serves`) or handles (`handles`) the pattern. */
  offers(pattern: string, kind: 'serves' | 'handles'): boolean {
    return this.current.kind === 'ready' && this.current[kind].has(pattern);
  }

  /** Queues HELLO; from here the link is handshaking. */
  sendHello(now: number): void {
    if (this.current.kind === 'closed') return;
    this.current = { kind: 'handshaking', helloAt: now };
    this.trySend(this.hello);
  }

  /**
   * HELLO again if this link has no session, none is waiting in the queue,
   * and the last went out `interval` ago or more (docs/PROTOCOL.md §9).
   */
  retryHello(now: number, interval: number): void {
    if (this.current.kind !== 'handshaking' || this.channel.queued > 0) return;
    if (now - this.current.helloAt < interval) return;
    this.sendHello(now);
  }

  /** The server welcomed us: `joined` when the session is new, `renewed` when one was up. */
  welcomed(welcome: Welcome, now: number): 'joined' | 'renewed' {
    const renewed = this.current.kind === 'ready';
    this.current = {
      kind: 'ready',
      welcome,
      serves: new Set(welcome.patterns),
      handles: new Set(welcome.events),
      msgpack: hasFeature(welcome, MSGPACK_FEATURE),
      deadlines: hasFeature(welcome, DEADLINE_FEATURE),
      byeAck: hasFeature(welcome, BYE_ACK_FEATURE),
      window: peerWindow(welcome),
    };
    this.lastSeen = now;
    this.lastPing = now;
    return renewed ? 'renewed' : 'joined';
  }

  /** The server refused the handshake; returns the session that was up, if one was. */
  refused(error: ZmqError): Welcome | undefined {
    const welcome = this.welcome;
    if (this.current.kind !== 'closed') this.current = { kind: 'refused', error };
    return welcome;
  }

  /** The session ended (BYE, timeout, NOT_READY): returns it, and the link is handshaking again. */
  lost(): Welcome | undefined {
    const welcome = this.welcome;
    if (welcome !== undefined) this.current = { kind: 'handshaking', helloAt: NEVER };
    this.pending = 0;
    return welcome;
  }

  /**
   * Says BYE if a session is up and ends the link for good; resolves when
   * its channel is closed. With `bye-ack`, it first waits (at most `waitMs`)
   * for the server's answering BYE: then the server has ours, whatever
   * happens to this process next.
   */
  async close(scheduler: Scheduler, waitMs: number): Promise<void> {
    if (this.current.kind === 'ready') {
      const awaitAnswer = this.current.byeAck;
      if (this.trySend(BYE, true) && awaitAnswer) {
        await settleWithin(scheduler, waitMs, acknowledged => (this.current = { kind: 'closing', acknowledged }));
      }
    }
    this.current = { kind: 'closed' };
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

  /** The peer as `getPeers()` lists it (only while ready). */
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
