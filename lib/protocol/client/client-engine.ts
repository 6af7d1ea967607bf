import { ZmqClosedError, ZmqError, ZmqErrorCode, ZmqPeerLostError } from '../../errors/zmq.errors.js';
import {
  ZmqClientResilienceStats,
  ZmqPeerInfo,
  ZmqPeerLeftReason,
  ZmqStatus,
  ZmqTarget,
} from '../../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../channel.js';
import { Clock, monotonicClock, realScheduler, Scheduler } from '../clock.js';
import { controlEnvelope } from '../envelopes.js';
import { MessageType } from '../frames.js';
import type { Welcome } from '../handshake.js';
import { holdsBye, InboundDecoder } from '../inbound.js';
import { MAX_DEADLINE_MS } from '../limits.js';
import { BYE_ACK_WAIT_MS, REFUSED_RETRY_MAX_MS, REFUSED_RETRY_MS } from '../tuning.js';
import { Heartbeat } from '../liveness.js';
import { Metrics } from '../metrics.js';
import { CallRegistry, PendingCall, ReplyCallback } from './calls.js';
import { ANY_SERVER, ClientEngineConfig, ClientEngineDeps, Route } from './client-deps.js';
import { ClientInbound } from './client-inbound.js';
import { ConnectWaiter } from './connect-waiter.js';
import { EndpointManager } from './endpoint-manager.js';
import { LinkPool } from './link-pool.js';
import { RequestEncoder } from './requests.js';
import { CallPolicy, Resends } from './retries.js';
import { DEFAULT_HEDGING, DEFAULT_RETRIES } from '../../defaults.js';
import { Uploads } from './uploads.js';
import { isRestart } from './hello.js';
import type { UpstreamLink } from './upstream-link.js';

/**
 * The lifecycle of a client engine:
 * - `stopped`: no links (before the first `connect()`, after `close()` or a failed connect);
 * - `connecting`: the links are open and `connect()` waits for a first session;
 * - `open`: the links are open; `connection` is the settled `connect()` that
 *   later calls return, or `undefined` after one timed out (the links keep
 *   trying, and the next `connect()` waits again).
 */
export type EngineState =
  | { readonly kind: 'stopped' }
  | { readonly kind: 'connecting'; readonly connection: Promise<void> }
  | { readonly kind: 'open'; readonly connection: Promise<void> | undefined };

const STOPPED: EngineState = { kind: 'stopped' };

const ENGINE_MOVES: Readonly<Record<EngineState['kind'], readonly EngineState['kind'][]>> = {
  stopped: ['stopped', 'connecting'],
  connecting: ['open', 'stopped'],
  open: ['open', 'connecting', 'stopped'],
};

/**
 * The client side of the session protocol, with no Nest and no zeromq in it:
 * links and their handshakes, routing, calls in flight, liveness, connect and
 * close. `ClientZmq` is the Nest surface over it.
 */
export class ClientEngine {
  readonly clock: Clock;
  private readonly config: ClientEngineConfig;
  private readonly observer: SessionObserver;
  private readonly scheduler: Scheduler;
  private readonly pool: LinkPool;
  private readonly calls: CallRegistry;
  private readonly waiter: ConnectWaiter;
  private readonly liveness: Heartbeat<UpstreamLink>;
  private readonly decoder: InboundDecoder<UpstreamLink>;
  private readonly encoder: RequestEncoder;
  /** The links' membership: endpoints, resolved names, endpoints added and removed at run time. */
  readonly endpoints: EndpointManager;
  private readonly uploads: Uploads;
  /** Retries and hedges of idempotent calls: at most a share of the requests sent. */
  private readonly resends: Resends;
  /** What a REQUEST tells a server that takes deadlines: the caller's wait (none without a requestTimeout). */
  private readonly deadline: number | undefined;
  private lifecycle: EngineState = STOPPED;
  private lastStatus: ZmqStatus | undefined;
  private socketsClosed: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ClientEngineDeps) {
    this.config = deps.config;
    this.observer = deps.observer;
    this.clock = deps.clock ?? monotonicClock;
    this.scheduler = deps.scheduler ?? realScheduler;
    this.pool = new LinkPool(this.config.strategy, {
      now: () => this.clock.now(),
      random: deps.random ?? Math.random,
      restored: link => this.healthChanged(link, 'restored'),
    });
    const timeout = this.config.requestTimeout;
    this.deadline = deadlineOf(timeout);
    this.encoder = new RequestEncoder(this.config.maxPayload, deps.serializers?.serializer);
    this.waiter = new ConnectWaiter({
      scheduler: this.scheduler,
      observer: this.observer,
      diagnostics: deps.diagnostics,
      resolve: deps.resolve,
    });
    this.calls = this.callRegistry(deps);
    this.uploads = new Uploads(this.encoder, this.calls, this.config);
    this.resends = this.resendsOf();
    this.calls.resender = this.resends;
    this.liveness = new Heartbeat<UpstreamLink>(
      this.config.heartbeat,
      {
        peers: () => this.pool.liveLinks,
        ping: link => link.ping(),
        dead: link => this.sessionEnded(link, 'timeout'),
      },
      this.clock,
      this.scheduler,
    );
    const inbound = new ClientInbound(this, this.calls, this.observer, deps.serializers, this.config.stream?.window);
    this.decoder = new InboundDecoder(0, this.config.maxPayload, inbound);
    this.endpoints = new EndpointManager({
      ...deps,
      pool: this.pool,
      clock: this.clock,
      scheduler: this.scheduler,
      resolve: deps.resolve,
      receive: (link, frames) => this.receive(link, frames),
      retired: (link, welcome) => this.afterLoss(link, welcome, 'bye'),
      disconnected: link => this.connectionLost(link),
    });
  }

  /** The calls in progress: timed out by `requestTimeout`, cancelled on the wire, their endings judged per server. */
  private callRegistry(deps: ClientEngineDeps): CallRegistry {
    return new CallRegistry(
      this.config.requestTimeout,
      call => call.link.trySend(controlEnvelope(MessageType.Cancel, call.id), true),
      (call, err) => this.observer.error(`A subscriber of "${call.pattern}" threw: ${String(err)}`),
      this.clock,
      this.scheduler,
      deps.metrics ?? new Metrics(this.clock, true, true),
      (call, verdict) => {
        if (call.link.health.ended(verdict, this.clock.now())) this.healthChanged(call.link, 'ejected');
      },
    );
  }

  /** Retries and hedges of idempotent calls, within the retry budget. */
  private resendsOf(): Resends {
    return new Resends({
      calls: this.calls,
      encoder: this.encoder,
      pool: this.pool,
      clock: this.clock,
      scheduler: this.scheduler,
      retries: this.config.retries,
      hedging: this.config.hedging,
      defaults: { retries: DEFAULT_RETRIES, hedging: DEFAULT_HEDGING },
    });
  }

  /** Connected: `connect()` resolved and a server has a session (requests can skip `connect()`). */
  get isConnected(): boolean {
    return this.lifecycle.kind !== 'stopped' && this.connection !== undefined && this.pool.readyLinks.length > 0;
  }

  get state(): EngineState {
    return this.lifecycle;
  }

  /** The pending or settled `connect()` that later calls return. */
  private get connection(): Promise<void> | undefined {
    return this.lifecycle.kind === 'stopped' ? undefined : this.lifecycle.connection;
  }

  get links(): readonly UpstreamLink[] {
    return this.pool.all;
  }

  /**
   * Opens the links (once), resolves when a server has a session. Rejects on the connect timeout and when
   * nothing accepts connections at any endpoint (CONNECT_REFUSED; the links keep trying both times), at once
   * when every server refused, and on close. Cached until it rejects or closes.
   */
  connect(): Promise<void> {
    const current = this.connection;
    if (current !== undefined) return current;
    if (this.pool.readyLinks.length > 0) {
      const connected = Promise.resolve();
      this.to({ kind: 'open', connection: connected });
      return connected;
    }
    const refusal = this.pool.refusal();
    if (refusal !== undefined) {
      // Every server refused after an earlier wait ended: say so now, and start afresh next time.
      void this.teardown();
      return Promise.reject(refusal);
    }
    const connection = this.waiter.wait(
      this.config.connectTimeout,
      () => this.endpoints.list(),
      err => {
        // The links keep trying: a later connect() resolves once a server is up.
        if (this.lifecycle.kind === 'connecting') this.to({ kind: 'open', connection: undefined });
        return this.pool.refusal() ?? err;
      },
    );
    const wasStopped = this.lifecycle.kind === 'stopped';
    this.to({ kind: 'connecting', connection });
    if (wasStopped) {
      try {
        this.open();
      } catch (err) {
        // e.g. a malformed endpoint: reject instead of throwing out of connect().
        this.failConnect(err as Error);
      }
    }
    return connection;
  }

  /** Fails every call with `CLOSED`, says BYE to the servers, closes the links; `connect()` works again after. */
  close(): Promise<void> {
    this.waiter.reject(new ZmqClosedError());
    return this.teardown();
  }

  /**
   * Sends a REQUEST on the route (its data an Observable or AsyncIterable: a request stream, §6.1); `callback`
   * gets every reply message. Never throws: a request that cannot go out (NO_PEER, TOO_LARGE, QUEUE_FULL,
   * STREAM_UNSUPPORTED...) ends at once through `callback`. `policy`: the call's own retry and hedging
   * (a call to a chosen server is never sent again). Returns the cancel function.
   */
  request(
    pattern: string,
    data: unknown,
    metadata: Buffer | undefined | ((peerId: string) => Buffer),
    callback: ReplyCallback,
    route: Route = ANY_SERVER,
    policy?: CallPolicy,
  ): () => void {
    let call: PendingCall;
    try {
      const link = route.link ?? this.pool.pickServing(pattern, route.target);
      const own = policy?.timeout;
      const deadline = !link.deadlines ? undefined : own === undefined ? this.deadline : deadlineOf(own);
      const meta = typeof metadata === 'function' ? metadata(link.welcome!.id) : metadata; // per server: trace context
      call = this.uploads.send(this.calls.nextId(), link, pattern, callback, data, meta, deadline);
      if (own !== undefined) this.calls.retime(call, own);
      this.resends.sent(call, data, meta, route === ANY_SERVER ? policy : ONCE);
    } catch (err) {
      this.calls.refuse(pattern, err, callback);
      return noop;
    }
    // Unsubscribed before the end: the servers of its attempts in flight are told to stop.
    return () => this.calls.cancel(call);
  }

  /** Sends an EVENT to one server that handles it (or to every one); returns their ids. Throws NO_PEER. */
  emit(
    pattern: string,
    data: unknown,
    metadata: Buffer | undefined,
    target: ZmqTarget | undefined,
    all: boolean,
  ): string[] {
    const candidates = this.pool.candidates(pattern, 'handles', target);
    const links = all ? candidates : [this.pool.pick(candidates)];
    for (const [link, env] of this.encoder.events(links, pattern, data, metadata)) link.channel.send(env);
    return links.map(l => l.welcome!.id);
  }

  /** The ready links that serve `pattern` and match `target` (for a broadcast). Throws NO_PEER. */
  serversOf(pattern: string, target: ZmqTarget | undefined): UpstreamLink[] {
    return this.pool.candidates(pattern, 'serves', target);
  }

  peers(): ZmqPeerInfo[] {
    return this.pool.readyLinks.map(l => l.info());
  }

  /** What the resilience did so far (`getStats().resilience`). */
  resilienceStats(): ZmqClientResilienceStats {
    let ejections = 0;
    for (const link of this.pool.all) ejections += link.health.ejections;
    return { throttled: this.pool.throttled, ...this.resends.stats(), ejections };
  }

  /** A server was ejected as an outlier or is back: told to listeners (a link with no session says nothing). */
  private healthChanged(link: UpstreamLink, change: 'ejected' | 'restored'): void {
    const welcome = link.welcome;
    if (welcome !== undefined) this.observer.health?.(link.event(welcome), change);
  }

  /** Peers with a session, calls in flight and envelopes queued on every link. */
  stats(): { peers: number; inFlight: number; queued: number } {
    return { peers: this.pool.readyLinks.length, inFlight: this.calls.size, queued: this.pool.queued };
  }

  /** Messages of `link`'s channel; nothing is read from a closed link. */
  receive(link: UpstreamLink, frames: Buffer[]): void {
    const { state } = link;
    if (state.kind === 'closing' && holdsBye(frames, 0)) state.acknowledged();
    if (state.kind === 'closing' || state.kind === 'closed') return;
    if (link.welcome !== undefined) link.lastSeen = this.clock.now();
    this.decoder.read(link, frames);
  }

  /** A WELCOME that passed validation (ClientInbound checked it). */
  welcomed(link: UpstreamLink, welcome: Welcome): void {
    // A WELCOME of another server instance on a ready link: that server restarted, and the session is new.
    const previous = link.welcome;
    const restarted = previous !== undefined && isRestart(previous, welcome);
    if (restarted) this.afterLoss(link, previous, 'disconnect');
    const change = link.welcomed(welcome, this.clock.now());
    this.pool.update(link);
    this.setStatus('connected');
    if (change === 'joined' || restarted) this.observer.joined(link.event(welcome));
    if (this.lifecycle.kind === 'connecting') this.to({ kind: 'open', connection: this.lifecycle.connection });
    this.waiter.resolve();
  }

  /** The server refused the handshake (or speaks another version). */
  refused(link: UpstreamLink, error: ZmqError, peerId?: string): void {
    this.observer.refused({
      ...(peerId !== undefined ? { peerId } : {}),
      direction: 'upstream',
      endpoint: link.endpoint,
      error,
    });
    const retryAt = error.code === ZmqErrorCode.VERSION_MISMATCH ? undefined : this.refusedRetryAt(link);
    const welcome = link.refused(error, retryAt);
    if (welcome !== undefined) this.afterLoss(link, welcome, 'disconnect');
    if (this.pool.refusal() !== undefined) this.failConnect(error);
  }

  /**
   * The session on `link` ended: its calls fail PEER_LOST at once. After NOT_READY it says HELLO now (the
   * connection is up); after BYE or a timeout its server left: a fresh, fast-reconnecting channel.
   */
  sessionEnded(link: UpstreamLink, reason: ZmqPeerLeftReason): void {
    const welcome = link.lost();
    if (welcome === undefined) return;
    this.afterLoss(link, welcome, reason);
    // NOT_READY: the connection is up, HELLO now; else its server left: a fresh, fast-reconnecting channel.
    if (reason === 'disconnect') link.sendHello(this.clock.now());
    else this.endpoints.returning(link);
  }

  /** When a refused link says HELLO again: REFUSED_RETRY_MS, doubling per refusal in a row (at most REFUSED_RETRY_MAX_MS), ±20 %. */
  private refusedRetryAt(link: UpstreamLink): number {
    const base = Math.min(REFUSED_RETRY_MAX_MS, REFUSED_RETRY_MS * 2 ** Math.min(link.refusedInARow, 16));
    const jitter = 0.8 + 0.4 * (this.deps.random ?? Math.random)();
    return this.clock.now() + base * jitter;
  }

  /** The server said DRAIN (§5.6). */
  draining(link: UpstreamLink): void {
    this.endpoints.draining(link);
  }

  /** The transport saw `link`'s connection end (§10): its server left; a HELLO waits for the next connection. */
  connectionLost(link: UpstreamLink): void {
    const welcome = link.lost();
    if (welcome === undefined) {
      if (link.state.kind === 'handshaking') link.sendHello(this.clock.now());
      return;
    }
    this.afterLoss(link, welcome, 'disconnect');
    this.endpoints.returning(link);
  }

  private afterLoss(link: UpstreamLink, welcome: Welcome, reason: ZmqPeerLeftReason): void {
    this.pool.update(link);
    this.calls.failLink(link, new ZmqPeerLostError(welcome.id, reason));
    this.observer.left(link.event(welcome, reason));
    if (this.pool.readyLinks.length > 0) return;
    this.setStatus('reconnecting');
    this.endpoints.allDown();
  }

  private open(): void {
    this.endpoints.start();
    this.liveness.start();
  }

  /** Rejects a pending connect() (first: a status listener may connect() again) and tears down; else nothing. */
  private failConnect(err: Error): void {
    if (!this.waiter.reject(err)) return;
    void this.teardown();
  }

  /** Resets all state at once; resolves when every channel of this and earlier teardowns is closed. */
  private teardown(): Promise<void> {
    const links = this.pool.clear();
    this.to(STOPPED);
    this.liveness.stop();
    const stopped = this.endpoints.stop();
    this.calls.failAll(new ZmqClosedError());
    for (const link of links) {
      const welcome = link.welcome;
      if (welcome !== undefined) this.observer.left(link.event(welcome, 'bye'));
    }
    this.setStatus('disconnected');
    const closing = Promise.all(links.map(l => l.close(this.scheduler, BYE_ACK_WAIT_MS)));
    this.socketsClosed = Promise.all([this.socketsClosed, closing, stopped]).then(noop);
    return this.socketsClosed;
  }

  /** The one place the lifecycle changes; a move outside ENGINE_MOVES is a bug. */
  private to(next: EngineState): void {
    if (!ENGINE_MOVES[this.lifecycle.kind].includes(next.kind))
      throw new Error(`A client engine cannot go from ${this.lifecycle.kind} to ${next.kind}`);
    this.lifecycle = next;
  }

  private setStatus(status: ZmqStatus): void {
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    this.deps.status(status);
  }
}

function noop(): void {}

/** What a REQUEST tells a server that takes deadlines of a wait of `timeout` ms: none for no timeout (0). */
function deadlineOf(timeout: number): number | undefined {
  return timeout > 0 ? Math.min(Math.ceil(timeout), MAX_DEADLINE_MS) : undefined;
}

/** The policy of a call to a chosen server: never sent again. */
const ONCE: CallPolicy = Object.freeze({ retry: false });
