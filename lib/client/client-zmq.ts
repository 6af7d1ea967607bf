import { Logger } from '@nestjs/common';
import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import type { Observable } from 'rxjs';
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, PROTOCOL_VERSION } from '../constants';
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
import { ZmqEvents, ZmqPeerEvent, ZmqPeerInfo, ZmqPeerLeftReason, ZmqStatus } from '../interfaces/zmq-events.interface';
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
import { RequestTracker } from '../protocol/request-tracker';
import { ZmqSocket, ZmqSocketSettings } from '../transport/zmq-socket';

/** One DEALER and the server behind it. */
interface Link {
  readonly endpoint: string;
  readonly socket: ZmqSocket;
  /** The server's WELCOME, once the handshake completed. */
  welcome: Welcome | undefined;
  /** Set when the server refused the handshake. */
  refusal: ZmqError | undefined;
}

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
  private readonly log = new Logger('ClientZmq');
  private readonly monitor = new TransportMonitor(this.log);
  private readonly tracker: RequestTracker<PendingCall>;
  private readonly patternCache = new Map<string, Buffer>();
  /** Tells the server that a later connection with our id is us again, not an impostor. */
  private readonly instance = randomId();
  private links: Link[] = [];
  private ready: Link[] = [];
  private nextLink = 0;
  private connection: Promise<void> | undefined;
  private pendingConnect: PendingConnect | undefined;
  private closing: Promise<void> = Promise.resolve();

  constructor(private readonly options: ZmqClientOptions) {
    super();
    this.endpoints = toList(options?.connect, 'connect');
    this.id = options.id ?? randomId();
    this.connectTimeout = checkNumber(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 'connectTimeout');
    this.requestTimeout = checkNumber(options.requestTimeout, DEFAULT_REQUEST_TIMEOUT, 'requestTimeout', true);
    this.maxPayload = maxPayloadOf(options);
    this.heartbeat = heartbeatOf(options);
    this.settings = socketSettingsOf(options);
    this.tracker = new RequestTracker<PendingCall>(this.requestTimeout, (_id, call) => this.onTimeout(call));
  }

  /**
   * Connects a DEALER to every endpoint and resolves once one server has
   * completed the handshake; rejects with `CONNECT_TIMEOUT` (or the server's
   * refusal) otherwise. The promise is cached: Nest calls this before every
   * `send()` / `emit()`.
   */
  connect(): Promise<void> {
    if (this.connection !== undefined) return this.connection;
    const connection = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.failConnect(this.connectError()), this.connectTimeout);
      this.pendingConnect = { resolve, reject, timer };
    });
    this.connection = connection;
    try {
      for (const endpoint of this.endpoints) this.links.push(this.openLink(endpoint));
    } catch (err) {
      // e.g. a malformed endpoint: reject instead of throwing out of connect().
      this.failConnect(err as Error);
    }
    return connection;
  }

  private openLink(endpoint: string): Link {
    const socket = ZmqSocket.dealer(this.settings, (envs, _dest, err) => {
      this.monitor.drop('sendFailed', `${envs.length} envelope(s) to ${endpoint}: ${String(err)}`, envs.length);
    });
    const link: Link = { endpoint, socket, welcome: undefined, refusal: undefined };
    socket.connect(endpoint);
    socket.startReceiving(
      frames => this.onMessage(link, frames),
      err => this.log.error(`Receive loop error on ${endpoint}: ${String(err)}`),
    );
    const hello: Hello = {
      version: PROTOCOL_VERSION,
      id: this.id,
      instance: this.instance,
      metadata: this.options.metadata ?? {},
      heartbeat: this.heartbeat,
    };
    socket.send(dataEnvelope(MessageType.Hello, 0, hello, Number.MAX_SAFE_INTEGER));
    return link;
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

  /** Servers that completed the handshake. */
  getPeers(): ZmqPeerInfo[] {
    return this.ready.map(l => ({
      peerId: l.welcome!.id,
      direction: 'upstream',
      endpoint: l.endpoint,
      metadata: l.welcome!.metadata,
      patterns: l.welcome!.patterns,
    }));
  }

  /** Peers, calls in flight, queued envelopes and dropped messages by reason. */
  getStats(): ZmqClientStats {
    let queued = 0;
    for (const l of this.links) queued += l.socket.queued;
    return { peers: this.ready.length, inFlight: this.tracker.size, queued, dropped: this.monitor.drops() };
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    let call: PendingCall;
    try {
      const pattern = this.normalizePattern(packet.pattern);
      const link = this.pickLink(pattern);
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
    } catch (err) {
      callback({ err, isDisposed: true });
      return noop;
    }
    return () => {
      // Unsubscribed before the end: tell the server to stop.
      if (this.tracker.delete(call.id) !== undefined) {
        this.trySend(call.link, controlEnvelope(MessageType.Cancel, call.id));
      }
    };
  }

  protected async dispatchEvent<T = any>(packet: ReadPacket): Promise<T> {
    const pattern = this.normalizePattern(packet.pattern);
    const link = this.pickLink(pattern);
    link.socket.send(
      dataEnvelope(MessageType.Event, 0, packet.data, this.maxPayload, 0, this.patternBytes(pattern), metadataOf(packet)),
    );
    return undefined as T;
  }

  /** Local errors pass through; a remote error value becomes a {@link ZmqRemoteError}. */
  protected override serializeError(err: unknown): unknown {
    return err instanceof Error ? err : new ZmqRemoteError(err);
  }

  private pickLink(pattern: string): Link {
    const n = this.ready.length;
    if (n === 0) throw new ZmqNoPeerError(pattern);
    const link = this.ready[this.nextLink % n]!;
    this.nextLink = (this.nextLink + 1) % n;
    return link;
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
        const call = this.tracker.delete(env.id);
        if (call === undefined) return this.monitor.drop('lateReply', `end of unknown request ${env.id}`);
        return this.safeCallback(call, { isDisposed: true });
      }
      case MessageType.Error:
        return env.id === 0 ? this.onConnectionError(link, env) : this.onError(env);
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
      this.tracker.delete(env.id);
      this.trySend(call.link, controlEnvelope(MessageType.Cancel, env.id));
      this.monitor.drop('payload', (err as Error).message);
      return this.safeCallback(call, { err: new ZmqProtocolError(`Undecodable reply: ${(err as Error).message}`), isDisposed: true });
    }
    if (env.flags & Flag.End) {
      this.tracker.delete(env.id);
      this.safeCallback(call, { response, isDisposed: true });
    } else {
      this.tracker.touch(env.id);
      this.safeCallback(call, { response });
    }
  }

  private onError(env: Envelope): void {
    const call = this.tracker.delete(env.id);
    if (call === undefined) return this.monitor.drop('lateReply', `error of unknown request ${env.id}`);
    let err: unknown;
    try {
      err = decodePayload(env.encoding, env.payload, env.id);
    } catch (e) {
      err = new ZmqProtocolError(`Undecodable error reply: ${(e as Error).message}`);
    }
    this.safeCallback(call, { err, isDisposed: true });
  }

  private onConnectionError(link: Link, env: Envelope): void {
    let refusal;
    try {
      refusal = asRefusal(decodePayload(env.encoding, env.payload));
    } catch {
      refusal = undefined;
    }
    if (refusal === undefined) return this.monitor.drop('payload', 'undecodable connection error');
    if (refusal.code === ZmqErrorCode.NOT_READY) return;
    const err =
      refusal.code === ZmqErrorCode.VERSION_MISMATCH
        ? new ZmqVersionMismatchError(PROTOCOL_VERSION, refusal.version)
        : new ZmqHandshakeRefusedError(refusal.message);
    this.log.error(`Server ${link.endpoint} refused the handshake: ${refusal.message}`);
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
      if (this.links.every(l => l.refusal !== undefined)) this.failConnect(link.refusal);
    }
    this.monitor.drop(err.reason, err.message);
    // A reply that cannot be read is never silent: fail the call it belongs to.
    if (err.id !== 0) {
      const call = this.tracker.delete(err.id);
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
      if (this.links.every(l => l.refusal !== undefined)) this.failConnect(link.refusal);
      return;
    }
    const wasReady = link.welcome !== undefined;
    link.welcome = welcome;
    link.refusal = undefined;
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

  /** The server behind `link` went away: fail its calls at once. */
  private onPeerGone(link: Link, reason: ZmqPeerLeftReason): void {
    const welcome = link.welcome;
    if (welcome === undefined) return;
    link.welcome = undefined;
    this.ready = this.ready.filter(l => l !== link);
    for (const call of this.tracker.drainWhere(c => c.link === link)) {
      this.safeCallback(call, { err: new ZmqPeerLostError(welcome.id, reason), isDisposed: true });
    }
    this.monitor.notify('peer:left', { ...this.peerEvent(link, reason), peerId: welcome.id, metadata: welcome.metadata });
    if (this.ready.length === 0) this._status$.next(ZmqStatus.DISCONNECTED);
  }

  private onTimeout(call: PendingCall): void {
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

/** Nest 12 packet metadata (set by `setOnDispatchHook`), encoded for the header. */
function metadataOf(packet: ReadPacket): Buffer | undefined {
  const metadata = (packet as { metadata?: Metadata }).metadata;
  if (metadata === undefined || metadata === null || Object.keys(metadata).length === 0) return undefined;
  return encodeMetadata(metadata);
}
