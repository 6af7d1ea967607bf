import { Logger } from '@nestjs/common';
import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import { catchError, connectable, defer, map, merge, mergeMap, Observable, of, ReplaySubject, Subscriber, throwError } from 'rxjs';
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_RECONNECT_INTERVAL,
  DEFAULT_RECONNECT_MAX_INTERVAL,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_STRATEGY,
  PROTOCOL_VERSION,
} from '../constants';
import {
  ZmqClosedError,
  ZmqConnectTimeoutError,
  ZmqError,
  ZmqErrorCode,
  ZmqHandshakeRefusedError,
  ZmqNoPeerError,
  ZmqPeerLostError,
  ZmqProtocolError,
  ZmqRemoteError,
  ZmqTimeoutError,
  ZmqVersionMismatchError,
} from '../errors/zmq.errors';
import {
  ZmqEvents,
  ZmqPeerEvent,
  ZmqPeerInfo,
  ZmqPeerLeftReason,
  ZmqPeerReply,
  ZmqStatus,
  ZmqStrategy,
  ZmqTarget,
} from '../interfaces/zmq-events.interface';
import { ZmqClientOptions } from '../interfaces/zmq-options.interface';
import { checkNumber, heartbeatOf, maxPayloadOf, randomId, socketSettingsOf, toList } from '../options';
import { decodePayload } from '../protocol/codec';
import { DropCounts } from '../protocol/drop-counter';
import { TransportMonitor } from '../common/transport-monitor';
import { controlEnvelope, dataEnvelope } from '../protocol/envelopes';
import {
  checkFrameCount,
  decodeEnvelope,
  encodeMetadata,
  encodePattern,
  Envelope,
  Flag,
  MalformedError,
  MessageType,
  Metadata,
} from '../protocol/frames';
import { asRefusal, Hello, HeartbeatSettings, peekForeignVersion, validateWelcome, Welcome } from '../protocol/handshake';
import { Heartbeat, LivenessState } from '../protocol/liveness';
import { RequestTracker } from '../protocol/request-tracker';
import { ZmqSocket, ZmqSocketSettings } from '../transport/zmq-socket';

/** One DEALER and the server behind it. */
interface Link extends LivenessState {
  readonly endpoint: string;
  /** The `instance` of this link's HELLOs (docs/PROTOCOL.md §4.3). */
  readonly instance: string;
  readonly socket: ZmqSocket;
  /** The server's WELCOME while a session is up; `undefined` otherwise. */
  welcome: Welcome | undefined;
  /** The welcome's message and event patterns, for routing. */
  serves: Set<string>;
  handles: Set<string>;
  /** Set when the server refused the handshake. */
  refusal: ZmqError | undefined;
  /** Requests in flight on this link. */
  pending: number;
  /** When the last HELLO was queued. */
  lastHello: number;
}

/** Where one request or event may go. */
interface Route {
  readonly target?: ZmqTarget;
  readonly link?: Link;
}

/** Any server that serves the pattern (shared: no object per request). */
const NO_ROUTE: Route = Object.freeze({});

interface PendingCall {
  readonly id: number;
  readonly link: Link;
  readonly pattern: string;
  readonly callback: (packet: WritePacket) => void;
}

interface PendingConnect {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Counters a {@link ClientZmq} exposes through `getStats()`. */
export interface ZmqClientStats {
  peers: number;
  inFlight: number;
  queued: number;
  dropped: DropCounts;
}

const PATTERN_CACHE_LIMIT = 1_000;

/**
 * A Nest `ClientProxy` over ZeroMQ DEALER sockets, one per server endpoint.
 *
 * ```ts
 * ClientsModule.register([
 *   { name: 'MATH', customClass: ClientZmq, options: { connect: 'tcp://127.0.0.1:4000' } },
 * ]);
 * ```
 */
export class ClientZmq extends ClientProxy<ZmqEvents> {
  /** This client's id, sent to servers in the handshake. */
  readonly id: string;

  /**
   * `connected` once a server completed the handshake, `disconnected` when none is left.
   * (Narrowed here rather than through `ClientProxy<ZmqEvents, ZmqStatus>`, which
   * makes the class unassignable to `Type<ClientProxy>`, so
   * `ClientsModule.register([{ customClass: ClientZmq }])` would not compile.)
   */
  override get status(): Observable<ZmqStatus> {
    return super.status as Observable<ZmqStatus>;
  }

  private readonly endpoints: string[];
  private readonly connectTimeout: number;
  private readonly requestTimeout: number;
  private readonly maxPayload: number;
  private readonly heartbeat: HeartbeatSettings;
  private readonly settings: ZmqSocketSettings;
  private readonly strategy: ZmqStrategy;
  private readonly log = new Logger('ClientZmq');
  private readonly monitor: TransportMonitor;
  private readonly tracker: RequestTracker<PendingCall>;
  private readonly liveness: Heartbeat<Link>;
  private readonly patternCache = new Map<string, Buffer>();
  /** Tells the server that a later connection with our id is us again, not an impostor. */
  private readonly instance = randomId();
  private links: Link[] = [];
  private ready: Link[] = [];
  private nextLink = 0;
  private connection: Promise<void> | undefined;
  private pendingConnect: PendingConnect | undefined;
  private closing: Promise<void> = Promise.resolve();
  private helloTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ZmqClientOptions) {
    super();
    this.endpoints = toList(options?.connect, 'connect');
    this.id = options.id ?? randomId();
    this.connectTimeout = checkNumber(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 'connectTimeout');
    this.requestTimeout = checkNumber(options.requestTimeout, DEFAULT_REQUEST_TIMEOUT, 'requestTimeout', true);
    this.maxPayload = maxPayloadOf(options);
    this.heartbeat = heartbeatOf(options);
    const strategy = options.strategy ?? DEFAULT_STRATEGY;
    if (strategy !== 'round-robin' && strategy !== 'least-pending') {
      throw new TypeError(`nestjs-zeromq: "strategy" must be 'round-robin' or 'least-pending'`);
    }
    this.strategy = strategy;
    this.settings = {
      ...socketSettingsOf(options),
      reconnectInterval: checkNumber(options.reconnectInterval, DEFAULT_RECONNECT_INTERVAL, 'reconnectInterval'),
      reconnectMaxInterval: checkNumber(options.reconnectMaxInterval, DEFAULT_RECONNECT_MAX_INTERVAL, 'reconnectMaxInterval', true),
    };
    this.monitor = new TransportMonitor(this.log, 'client', this.id);
    this.tracker = new RequestTracker<PendingCall>(this.requestTimeout, (_id, call) => this.onTimeout(call));
    this.liveness = new Heartbeat<Link>(this.heartbeat, {
      peers: () => this.ready,
      ping: link => this.trySend(link, controlEnvelope(MessageType.Ping)),
      dead: link => this.onPeerGone(link, 'timeout'),
    });
  }

  /**
   * Connects a DEALER to every endpoint and resolves once one server has
   * completed the handshake. Rejects with `CONNECT_TIMEOUT` when none has
   * within `connectTimeout` (the sockets keep trying in the background, so a
   * later call resolves once a server is up), or at once with the servers'
   * refusal when every one refused. The promise is cached: Nest calls this
   * before every `send()` / `emit()`.
   */
  connect(): Promise<void> {
    if (this.connection !== undefined) return this.connection;
    if (this.ready.length > 0) {
      this.connection = Promise.resolve();
      return this.connection;
    }
    const connection = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.onConnectTimeout(), this.connectTimeout);
      this.pendingConnect = { resolve, reject, timer };
    });
    this.connection = connection;
    if (this.links.length === 0) {
      try {
        this.endpoints.forEach((endpoint, slot) => this.links.push(this.openLink(endpoint, slot)));
        this.liveness.start();
        this.helloTimer = setInterval(() => this.retryHellos(), this.heartbeat.interval);
        this.helloTimer.unref();
      } catch (err) {
        // e.g. a malformed endpoint: reject instead of throwing out of connect().
        this.failConnect(err as Error);
      }
    }
    return connection;
  }

  private openLink(endpoint: string, slot: number): Link {
    const socket = ZmqSocket.dealer(this.settings, (envs, _dest, err) => {
      this.monitor.drop('sendFailed', `${envs.length} envelope(s) to ${endpoint}: ${String(err)}`, envs.length);
    });
    const link: Link = {
      endpoint,
      // Same across close() / connect() for one endpoint (a reconnecting client
      // is handed its session over), distinct between endpoints (two links to
      // one server must not take the session from each other).
      instance: `${this.instance}/${slot}`,
      socket,
      welcome: undefined,
      serves: new Set(),
      handles: new Set(),
      refusal: undefined,
      pending: 0,
      lastHello: 0,
      lastSeen: 0,
      lastPing: 0,
    };
    try {
      socket.connect(endpoint);
    } catch (err) {
      void socket.close();
      throw err;
    }
    socket.startReceiving(
      frames => this.onMessage(link, frames),
      err => this.log.error(`Receive loop error on ${endpoint}: ${String(err)}`),
    );
    // It waits in the writer until the connection is up (ZMQ_IMMEDIATE).
    // Later HELLOs: after a heartbeat timeout or a NOT_READY (the server lost
    // our session); the socket reconnects on its own meanwhile.
    this.sendHello(link);
    return link;
  }

  /**
   * Every heartbeat interval, a link without a session (server down,
   * restarting, or its HELLO lost with a closing connection) sends HELLO
   * again, unless one is still queued: at most one waits for the connection.
   * Safe to repeat: no request goes out on a link before its WELCOME, and a
   * connection keeps order, so a repeated HELLO precedes every request.
   */
  private retryHellos(): void {
    const now = this.liveness.clock.now();
    for (const link of this.links) {
      if (link.welcome !== undefined || link.refusal !== undefined || link.socket.queued > 0) continue;
      if (now - link.lastHello < this.heartbeat.interval) continue;
      this.sendHello(link);
    }
  }

  private sendHello(link: Link): void {
    link.lastHello = this.liveness.clock.now();
    const hello: Hello = {
      version: PROTOCOL_VERSION,
      id: this.id,
      instance: link.instance,
      metadata: this.options.metadata ?? {},
      heartbeat: this.heartbeat,
    };
    this.trySend(link, dataEnvelope(MessageType.Hello, 0, hello, Number.MAX_SAFE_INTEGER));
  }

  /** No server in time: reject this wait, keep the links trying. */
  private onConnectTimeout(): void {
    const pending = this.pendingConnect;
    if (pending === undefined) return;
    this.pendingConnect = undefined;
    this.connection = undefined;
    pending.reject(this.connectError());
  }

  private connectError(): Error {
    const refused = this.links.map(l => l.refusal).filter((e): e is ZmqError => e !== undefined);
    return refused.length === this.links.length && refused.length > 0
      ? refused[0]!
      : new ZmqConnectTimeoutError(this.endpoints, this.connectTimeout);
  }

  private failConnect(err: Error): void {
    const pending = this.pendingConnect;
    if (pending === undefined) return;
    this.pendingConnect = undefined;
    clearTimeout(pending.timer);
    void this.teardown();
    pending.reject(err);
  }

  /**
   * Fails every pending call with `CLOSED`, says BYE to the servers and closes
   * the sockets. `connect()` works again afterwards.
   */
  async close(): Promise<void> {
    this.failConnect(new ZmqClosedError());
    await this.teardown();
  }

  /** Resets all state at once; resolves when every socket of this and earlier teardowns is closed. */
  private teardown(): Promise<void> {
    const links = this.links;
    this.links = [];
    this.ready = [];
    this.connection = undefined;
    this.liveness.stop();
    clearInterval(this.helloTimer);
    this.helloTimer = undefined;
    for (const call of this.tracker.drain()) {
      this.safeCallback(call, { err: new ZmqClosedError(), isDisposed: true });
    }
    for (const link of links) {
      if (link.welcome !== undefined) {
        this.trySend(link, controlEnvelope(MessageType.Bye));
        this.monitor.notify('peer:left', this.peerEvent(link, 'bye'));
      }
    }
    this._status$.next(ZmqStatus.DISCONNECTED);
    const closing = Promise.all(links.map(l => l.socket.close()));
    this.closing = Promise.all([this.closing, closing]).then(noop);
    return this.closing;
  }

  /** Listens to `peer:joined` / `peer:left`. */
  override on<K extends keyof ZmqEvents>(event: K, callback: ZmqEvents[K]): void {
    this.monitor.on(event, callback);
  }

  /** The zeromq.js `Dealer` sockets, one per endpoint. Throws before `connect()`. */
  unwrap<T>(): T {
    if (this.links.length === 0) {
      throw new Error('Not initialized. Please call the "connect" method first.');
    }
    return this.links.map(l => l.socket.raw) as T;
  }

  /** Servers with a session up now, with what they serve. */
  getPeers(): ZmqPeerInfo[] {
    return this.ready.map(l => this.peerInfo(l));
  }

  private peerInfo(l: Link): ZmqPeerInfo {
    return {
      peerId: l.welcome!.id,
      direction: 'upstream',
      endpoint: l.endpoint,
      metadata: l.welcome!.metadata,
      patterns: l.welcome!.patterns,
      events: l.welcome!.events,
      pending: l.pending,
    };
  }

  /**
   * Nest's `send()`, with a shortcut once a server is connected: Nest wraps
   * every request in `defer(connect)` + `mergeMap`, which costs more CPU per
   * request than the transport itself. Still cold: nothing is sent until
   * someone subscribes. Before a connection, it is Nest's own path.
   */
  override send<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    if (pattern === null || pattern === undefined || data === null || data === undefined) {
      return super.send<TResult, TInput>(pattern, data); // Nest's InvalidMessageException
    }
    return this.request<TResult>(pattern, data, NO_ROUTE);
  }

  /**
   * Like `send()`, but only to the servers `target` selects (a peer id, a
   * metadata filter or a predicate), among those that serve the pattern; the
   * `strategy` picks one when several match. No match fails at once with `NO_PEER`.
   *
   * ```ts
   * client.sendTo('math-2', 'sum', [1, 2]);
   * client.sendTo({ metadata: { zone: 'eu' } }, 'sum', [1, 2]);
   * ```
   */
  sendTo<TResult = any, TInput = any>(target: ZmqTarget, pattern: any, data: TInput): Observable<TResult> {
    return this.request<TResult>(pattern, data, { target });
  }

  /** A cold request: published at subscription, after `connect()` only while no server is up. */
  private request<TResult>(pattern: unknown, data: unknown, route: Route): Observable<TResult> {
    const publish = (observer: Subscriber<TResult>) =>
      this.publishRouted(this.packetOf(pattern, data), this.createObserver(observer), route);
    return new Observable<TResult>(observer => {
      if (this.connection !== undefined && this.ready.length > 0) return publish(observer);
      const sub = defer(() => this.connect())
        .pipe(mergeMap(() => new Observable<TResult>(publish)))
        .subscribe(observer);
      return () => sub.unsubscribe();
    });
  }

  /**
   * Sends the request to every server that serves the pattern (and matches
   * `target`, when given) and merges the replies: each value arrives as
   * `{ peerId, value }`, a server's failure as `{ peerId, error }` (the others
   * go on), and the Observable completes when every server has ended. No
   * server to send to fails at once with `NO_PEER`. Cold, like `send()`.
   *
   * ```ts
   * const health = await lastValueFrom(client.broadcast<Health>('health', {}).pipe(toArray()));
   * ```
   */
  broadcast<TResult = any, TInput = any>(pattern: any, data: TInput, target?: ZmqTarget): Observable<ZmqPeerReply<TResult>> {
    return defer(() => this.connect()).pipe(
      mergeMap(() => {
        const packet = this.packetOf(pattern, data);
        let links: Link[];
        try {
          links = this.candidates(this.normalizePattern(packet.pattern), 'serves', target);
        } catch (err) {
          return throwError(() => err);
        }
        return merge(
          ...links.map(link => {
            const peerId = link.welcome!.id;
            return new Observable<TResult>(observer =>
              this.publishRouted(packet, this.createObserver(observer), { link }),
            ).pipe(
              map((value): ZmqPeerReply<TResult> => ({ peerId, value })),
              catchError(error => of<ZmqPeerReply<TResult>>({ peerId, error })),
            );
          }),
        );
      }),
    );
  }

  /**
   * Emits the event to the servers `target` selects among those that handle
   * it (one of them, picked by `strategy`). Hot, like `emit()`; the
   * Observable yields the id of the server it went to.
   */
  emitTo<TInput = any>(target: ZmqTarget, pattern: any, data: TInput): Observable<string> {
    return this.hotEvent(pattern, data, { target }, false).pipe(map(ids => ids[0]!));
  }

  /**
   * Emits the event to every server that handles it (and matches `target`,
   * when given). Hot, like `emit()`; the Observable yields the ids of the
   * servers it went to. None fails with `NO_PEER`.
   */
  emitAll<TInput = any>(pattern: any, data: TInput, target?: ZmqTarget): Observable<string[]> {
    return this.hotEvent(pattern, data, { target }, true);
  }

  private hotEvent(pattern: any, data: unknown, route: Route, all: boolean): Observable<string[]> {
    const source = defer(() => this.connect()).pipe(
      map(() => this.dispatchRouted(this.packetOf(pattern, data), route, all)),
    );
    const hot = connectable(source, { connector: () => new ReplaySubject<string[]>(1), resetOnDisconnect: false });
    hot.connect();
    return hot;
  }

  /** Nest 12 runs its dispatch hook (packet metadata) in createPacket; Nest 11 has none. */
  private packetOf(pattern: unknown, data: unknown): ReadPacket {
    const create = (this as unknown as { createPacket?: (p: unknown, d: unknown) => ReadPacket }).createPacket;
    return typeof create === 'function' ? create.call(this, pattern, data) : { pattern, data };
  }

  /** Peers, calls in flight, queued envelopes and dropped messages by reason. */
  getStats(): ZmqClientStats {
    let queued = 0;
    for (const l of this.links) queued += l.socket.queued;
    return { peers: this.ready.length, inFlight: this.tracker.size, queued, dropped: this.monitor.drops() };
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    return this.publishRouted(packet, callback, NO_ROUTE);
  }

  private publishRouted(packet: ReadPacket, callback: (packet: WritePacket) => void, route: Route): () => void {
    let call: PendingCall;
    try {
      const pattern = this.normalizePattern(packet.pattern);
      const link = route.link ?? this.pick(this.candidates(pattern, 'serves', route.target));
      const id = this.tracker.nextId();
      const env = dataEnvelope(
        MessageType.Request,
        id,
        packet.data,
        this.maxPayload,
        0,
        this.patternBytes(pattern),
        metadataOf(packet),
      );
      link.socket.send(env);
      call = { id, link, pattern, callback };
      this.tracker.add(id, call);
      link.pending++;
    } catch (err) {
      callback({ err, isDisposed: true });
      return noop;
    }
    return () => {
      // Unsubscribed before the end: tell the server to stop.
      if (this.settle(call.id) !== undefined) {
        this.trySend(call.link, controlEnvelope(MessageType.Cancel, call.id));
      }
    };
  }

  protected async dispatchEvent<T = any>(packet: ReadPacket): Promise<T> {
    this.dispatchRouted(packet, NO_ROUTE, false);
    return undefined as T;
  }

  /** Sends an event to one (or every) selected server; returns their ids. Throws NO_PEER. */
  private dispatchRouted(packet: ReadPacket, route: Route, all: boolean): string[] {
    const pattern = this.normalizePattern(packet.pattern);
    const candidates = this.candidates(pattern, 'handles', route.target);
    const links = all ? candidates : [this.pick(candidates)];
    const env = dataEnvelope(MessageType.Event, 0, packet.data, this.maxPayload, 0, this.patternBytes(pattern), metadataOf(packet));
    for (const link of links) link.socket.send(env);
    return links.map(l => l.welcome!.id);
  }

  /** Removes a pending call and updates its link's count. */
  private settle(id: number): PendingCall | undefined {
    const call = this.tracker.delete(id);
    if (call !== undefined) call.link.pending--;
    return call;
  }

  /** Local errors pass through; a remote error value becomes a {@link ZmqRemoteError}. */
  protected override serializeError(err: unknown): unknown {
    return err instanceof Error ? err : new ZmqRemoteError(err);
  }

  /**
   * The servers with a session that serve (`serves`) or handle (`handles`)
   * the pattern and match `target`. Throws NO_PEER, naming the pattern, when none does.
   */
  private candidates(pattern: string, kind: 'serves' | 'handles', target: ZmqTarget | undefined): Link[] {
    const out: Link[] = [];
    for (const link of this.ready) {
      if (link[kind].has(pattern) && (target === undefined || this.matches(link, target))) out.push(link);
    }
    if (out.length === 0) throw new ZmqNoPeerError(pattern, this.ready.length > 0, target !== undefined);
    return out;
  }

  private matches(link: Link, target: ZmqTarget): boolean {
    const welcome = link.welcome!;
    if (typeof target === 'string') return welcome.id === target;
    if (typeof target === 'function') return target(this.peerInfo(link));
    if (target.peerId !== undefined && welcome.id !== target.peerId) return false;
    if (target.metadata !== undefined) {
      for (const key of Object.keys(target.metadata)) {
        if (!sameValue(welcome.metadata[key], target.metadata[key])) return false;
      }
    }
    return true;
  }

  private pick(links: Link[]): Link {
    const n = links.length;
    const start = this.nextLink++ % n;
    if (this.nextLink >= Number.MAX_SAFE_INTEGER) this.nextLink = 0;
    if (this.strategy === 'round-robin' || n === 1) return links[start]!;
    // least-pending: fewest in flight; ties go round-robin.
    let best = links[start]!;
    for (let i = 1; i < n; i++) {
      const link = links[(start + i) % n]!;
      if (link.pending < best.pending) best = link;
    }
    return best;
  }

  private patternBytes(pattern: string): Buffer {
    let bytes = this.patternCache.get(pattern);
    if (bytes === undefined) {
      bytes = encodePattern(pattern);
      if (this.patternCache.size < PATTERN_CACHE_LIMIT) this.patternCache.set(pattern, bytes);
    }
    return bytes;
  }

  private onMessage(link: Link, frames: Buffer[]): void {
    if (!this.links.includes(link)) return;
    if (link.welcome !== undefined) link.lastSeen = this.liveness.clock.now();
    if (!checkFrameCount(frames, 0)) {
      this.monitor.drop('frameCount', `wrong frame count (${frames.length})`);
      return;
    }
    for (let i = 0; i < frames.length; i += 2) {
      let env: Envelope;
      try {
        env = decodeEnvelope(frames[i]!, frames[i + 1]!, this.maxPayload);
      } catch (err) {
        this.onMalformed(link, err, frames[i]!);
        continue;
      }
      this.dispatch(link, env);
    }
  }

  private dispatch(link: Link, env: Envelope): void {
    switch (env.type) {
      case MessageType.Chunk:
        return this.onChunk(env);
      case MessageType.End: {
        const call = this.settle(env.id);
        if (call === undefined) return this.monitor.drop('lateReply', `end of unknown request ${env.id}`);
        return this.safeCallback(call, { isDisposed: true });
      }
      case MessageType.Error:
        return env.id === 0 ? this.onConnectionError(link, env) : this.onError(link, env);
      case MessageType.Welcome:
        return this.onWelcome(link, env);
      case MessageType.Ping:
        return this.trySend(link, controlEnvelope(MessageType.Pong));
      case MessageType.Pong:
        return;
      case MessageType.Bye:
        return this.onPeerGone(link, 'bye');
      default:
        this.monitor.drop('unexpected', `message type ${env.type} from a server`);
    }
  }

  private onChunk(env: Envelope): void {
    const call = this.tracker.get(env.id);
    if (call === undefined) return this.monitor.drop('lateReply', `chunk of unknown request ${env.id}`);
    let response: unknown;
    try {
      response = decodePayload(env.encoding, env.payload, env.id);
    } catch (err) {
      // A gap in a stream is never silent: fail the call and stop the server.
      this.settle(env.id);
      this.trySend(call.link, controlEnvelope(MessageType.Cancel, env.id));
      this.monitor.drop('payload', (err as Error).message);
      return this.safeCallback(call, { err: new ZmqProtocolError(`Undecodable reply: ${(err as Error).message}`), isDisposed: true });
    }
    if (env.flags & Flag.End) {
      this.settle(env.id);
      this.safeCallback(call, { response, isDisposed: true });
    } else {
      this.tracker.touch(env.id);
      this.safeCallback(call, { response });
    }
  }

  private onError(link: Link, env: Envelope): void {
    if (!this.tracker.get(env.id)) return this.monitor.drop('lateReply', `error of unknown request ${env.id}`);
    let err: unknown;
    try {
      err = decodePayload(env.encoding, env.payload, env.id);
    } catch (e) {
      err = new ZmqProtocolError(`Undecodable error reply: ${(e as Error).message}`);
    }
    if ((err as { code?: unknown } | null)?.code === ZmqErrorCode.NOT_READY && link.welcome !== undefined) {
      // The server has no session for us (it timed us out, or restarted):
      // every call on this link is lost, this one included.
      return this.sessionLost(link);
    }
    const call = this.settle(env.id)!;
    this.safeCallback(call, { err, isDisposed: true });
  }

  /** The server forgot our session: fail what was in flight and handshake again. */
  private sessionLost(link: Link): void {
    this.onPeerGone(link, 'disconnect');
    this.sendHello(link);
  }

  private onConnectionError(link: Link, env: Envelope): void {
    let refusal;
    try {
      refusal = asRefusal(decodePayload(env.encoding, env.payload));
    } catch {
      refusal = undefined;
    }
    if (refusal === undefined) return this.monitor.drop('payload', 'undecodable connection error');
    if (refusal.code === ZmqErrorCode.NOT_READY) {
      if (link.welcome !== undefined) this.sessionLost(link);
      return;
    }
    const err =
      refusal.code === ZmqErrorCode.VERSION_MISMATCH
        ? new ZmqVersionMismatchError(PROTOCOL_VERSION, refusal.version)
        : new ZmqHandshakeRefusedError(refusal.message);
    this.log.error(`Server ${link.endpoint} refused the handshake: ${refusal.message}`);
    this.monitor.refused({ direction: 'upstream', endpoint: link.endpoint, error: err });
    link.refusal = err;
    if (link.welcome !== undefined) this.onPeerGone(link, 'disconnect');
    if (this.links.every(l => l.refusal !== undefined)) this.failConnect(err);
  }

  private onMalformed(link: Link, err: unknown, header: Buffer): void {
    if (!(err instanceof MalformedError)) throw err;
    const foreign = peekForeignVersion(header, MessageType.Error);
    if (foreign !== undefined && link.welcome === undefined) {
      link.refusal = new ZmqVersionMismatchError(PROTOCOL_VERSION, foreign);
      this.log.error(`Server ${link.endpoint} speaks protocol version ${foreign}; this client speaks ${PROTOCOL_VERSION}`);
      this.monitor.refused({ direction: 'upstream', endpoint: link.endpoint, error: link.refusal });
      if (this.links.every(l => l.refusal !== undefined)) this.failConnect(link.refusal);
    }
    this.monitor.drop(err.reason, err.message);
    // A reply that cannot be read is never silent: fail the call it belongs to.
    if (err.id !== 0) {
      const call = this.settle(err.id);
      if (call !== undefined) {
        this.safeCallback(call, { err: new ZmqProtocolError(`Malformed reply: ${err.message}`), isDisposed: true });
      }
    }
  }

  private onWelcome(link: Link, env: Envelope): void {
    let welcome;
    try {
      welcome = validateWelcome(decodePayload(env.encoding, env.payload));
    } catch (err) {
      welcome = (err as Error).message;
    }
    if (typeof welcome === 'string') return this.monitor.drop('payload', welcome);
    if (welcome.version !== PROTOCOL_VERSION) {
      link.refusal = new ZmqVersionMismatchError(PROTOCOL_VERSION, welcome.version);
      this.monitor.drop('version', `welcome of version ${welcome.version}`);
      this.log.error(`Server ${link.endpoint} welcomed in protocol version ${welcome.version}; this client speaks ${PROTOCOL_VERSION}`);
      this.monitor.refused({ peerId: welcome.id, direction: 'upstream', endpoint: link.endpoint, error: link.refusal });
      if (this.links.every(l => l.refusal !== undefined)) this.failConnect(link.refusal);
      return;
    }
    const wasReady = link.welcome !== undefined;
    link.welcome = welcome;
    link.serves = new Set(welcome.patterns);
    link.handles = new Set(welcome.events);
    link.refusal = undefined;
    Object.assign(link, this.liveness.fresh());
    if (!wasReady) this.ready.push(link);
    this._status$.next(ZmqStatus.CONNECTED);
    if (!wasReady) this.monitor.notify('peer:joined', this.peerEvent(link));
    const pending = this.pendingConnect;
    if (pending !== undefined) {
      this.pendingConnect = undefined;
      clearTimeout(pending.timer);
      pending.resolve();
    }
  }

  /**
   * The server behind `link` went away: fail its calls at once. The link
   * stays: its socket reconnects and handshakes again (after a timeout the
   * connection may still be up, so the HELLO goes out now).
   */
  private onPeerGone(link: Link, reason: ZmqPeerLeftReason): void {
    const welcome = link.welcome;
    if (welcome === undefined) return;
    link.welcome = undefined;
    link.pending = 0;
    this.ready = this.ready.filter(l => l !== link);
    for (const call of this.tracker.drainWhere(c => c.link === link)) {
      this.safeCallback(call, { err: new ZmqPeerLostError(welcome.id, reason), isDisposed: true });
    }
    this.monitor.notify('peer:left', { ...this.peerEvent(link, reason), peerId: welcome.id, metadata: welcome.metadata });
    if (this.ready.length === 0) this._status$.next(ZmqStatus.RECONNECTING);
    // After a timeout or a lost session the connection may still be up: ask
    // again now. After a BYE the server is going away; retryHellos() asks
    // the next one.
    if (reason !== 'bye') this.sendHello(link);
  }

  private onTimeout(call: PendingCall): void {
    call.link.pending--;
    this.trySend(call.link, controlEnvelope(MessageType.Cancel, call.id));
    this.safeCallback(call, { err: new ZmqTimeoutError(call.pattern, this.requestTimeout), isDisposed: true });
  }

  private peerEvent(link: Link, reason?: ZmqPeerLeftReason): ZmqPeerEvent {
    return {
      peerId: link.welcome?.id ?? '',
      direction: 'upstream',
      endpoint: link.endpoint,
      metadata: link.welcome?.metadata ?? {},
      ...(reason ? { reason } : {}),
    };
  }

  private trySend(link: Link, env: Parameters<ZmqSocket['send']>[0]): void {
    try {
      if (!link.socket.isClosed) link.socket.send(env);
    } catch (err) {
      this.monitor.drop('sendFailed', (err as Error).message);
    }
  }

  /** A subscriber's exception must not break the receive loop. */
  private safeCallback(call: PendingCall, packet: WritePacket): void {
    try {
      call.callback(packet);
    } catch (err) {
      this.log.error(`A subscriber of "${call.pattern}" threw: ${String(err)}`);
    }
  }


}

function noop(): void {}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Nest 12 packet metadata (set by `setOnDispatchHook`), encoded for the header. */
function metadataOf(packet: ReadPacket): Buffer | undefined {
  const metadata = (packet as { metadata?: Metadata }).metadata;
  if (metadata === undefined || metadata === null || Object.keys(metadata).length === 0) return undefined;
  return encodeMetadata(metadata);
}
