import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { isObservable, Subscription } from 'rxjs';
import { DEFAULT_SEND_TIMEOUT, PROTOCOL_VERSION } from '../constants';
import { ZmqContext } from '../ctx-host/zmq.context';
import { ZmqBindError, ZmqErrorCode, ZmqHandshakeRefusedError, ZmqVersionMismatchError } from '../errors/zmq.errors';
import { ZmqEvents, ZmqPeerInfo, ZmqPeerLeftReason, ZmqStatus } from '../interfaces/zmq-events.interface';
import { ZmqServerOptions } from '../interfaces/zmq-options.interface';
import { checkNumber, heartbeatOf, maxPayloadOf, randomId, socketSettingsOf, toList } from '../options';
import { decodePayload } from '../protocol/codec';
import { DropCounts } from '../protocol/drop-counter';
import { TransportMonitor } from '../common/transport-monitor';
import { controlEnvelope, dataEnvelope, errorEnvelope } from '../protocol/envelopes';
import {
  checkFrameCount,
  decodeEnvelope,
  Envelope,
  Flag,
  MalformedError,
  MessageType,
  OutEnvelope,
} from '../protocol/frames';
import { handshakeTooLarge, HeartbeatSettings, peekForeignVersion, Refusal, validateHello, Welcome } from '../protocol/handshake';
import { Heartbeat, LivenessState } from '../protocol/liveness';
import { ZmqSocket } from '../transport/zmq-socket';

/**
 * Default transport id of every {@link ServerZmq}. Name it in
 * `@MessagePattern('sum', ZMQ_TRANSPORT)` to bind a handler to ZeroMQ servers only.
 */
export const ZMQ_TRANSPORT: unique symbol = Symbol('ZMQ_TRANSPORT');

interface ServerCall {
  readonly id: number;
  readonly peer: ServerPeer;
  /** Set once the client cancelled, the peer left or the server closed. */
  done: boolean;
  subscription: Subscription | undefined;
}

interface ServerPeer extends LivenessState {
  readonly key: string;
  readonly routingId: Buffer;
  readonly id: string;
  readonly instance: string | undefined;
  readonly metadata: Record<string, unknown>;
  readonly calls: Map<number, ServerCall>;
}

/** Counters a {@link ServerZmq} exposes through `getStats()`. */
export interface ZmqServerStats {
  peers: number;
  inFlight: number;
  queued: number;
  dropped: DropCounts;
}

function malformedReply(id: number, reason: string): OutEnvelope {
  return errorEnvelope(id, { status: 'error', code: ZmqErrorCode.MALFORMED, message: `Malformed request: ${reason}` });
}

const NO_SESSION = 'The server has no session for this client: handshake first';

const NO_MESSAGE_HANDLER = 'There is no matching message handler defined in the remote service.';

/**
 * A Nest microservice server over a ZeroMQ ROUTER.
 *
 * ```ts
 * const app = await NestFactory.createMicroservice(AppModule, {
 *   strategy: new ServerZmq({ bind: 'tcp://127.0.0.1:4000' }),
 * });
 * await app.listen();
 * ```
 */
export class ServerZmq extends Server<ZmqEvents, ZmqStatus> implements CustomTransportStrategy {
  override readonly transportId: symbol;
  /** This server's id, sent to clients in the handshake. */
  readonly id: string;

  private readonly bindTo: string[];
  private readonly maxPayload: number;
  private readonly heartbeat: HeartbeatSettings;
  private readonly serverMetadata: Record<string, unknown>;
  private readonly log = new Logger('ServerZmq');
  private readonly monitor: TransportMonitor;
  private readonly liveness: Heartbeat<ServerPeer>;
  private readonly peers = new Map<string, ServerPeer>();
  private readonly peersById = new Map<string, ServerPeer>();
  private readonly handlerCache = new Map<string, MessageHandler | null>();
  private socket: ZmqSocket | undefined;
  private bound: string[] = [];
  private closing = false;

  constructor(private readonly options: ZmqServerOptions) {
    super();
    this.bindTo = toList(options?.bind, 'bind');
    this.transportId = options.transportId ?? ZMQ_TRANSPORT;
    this.id = options.id ?? randomId();
    this.maxPayload = maxPayloadOf(options);
    this.heartbeat = heartbeatOf(options);
    this.serverMetadata = options.metadata ?? {};
    this.monitor = new TransportMonitor(this.log, 'server', this.id);
    this.liveness = new Heartbeat<ServerPeer>(this.heartbeat, {
      peers: () => this.peers.values(),
      ping: peer => this.sendTo(peer, controlEnvelope(MessageType.Ping)),
      dead: peer => this.removePeer(peer, 'timeout'),
    });
    checkNumber(options.sendTimeout, DEFAULT_SEND_TIMEOUT, 'sendTimeout', true);
  }

  /** The endpoints bound by `listen()`, with `*` ports resolved. */
  get endpoints(): string[] {
    return [...this.bound];
  }

  /** Binds every endpoint, then calls `callback()`, or `callback(err)` when a bind fails. */
  listen(callback: (...optionalParams: unknown[]) => unknown): void {
    this.start().then(
      () => callback(),
      err => callback(err),
    );
  }

  private async start(): Promise<void> {
    if (this.socket !== undefined) throw new Error('ServerZmq is already listening');
    this.closing = false;
    const settings = socketSettingsOf(this.options, this.options.sendTimeout ?? DEFAULT_SEND_TIMEOUT);
    const socket = ZmqSocket.router(settings, (envs, dest, err) => this.onSendError(envs, dest, err));
    const bound: string[] = [];
    for (const endpoint of this.bindTo) {
      try {
        bound.push(await socket.bind(endpoint));
      } catch (err) {
        await socket.close();
        this._status$.next(ZmqStatus.DISCONNECTED);
        throw new ZmqBindError(endpoint, err);
      }
    }
    this.socket = socket;
    this.bound = bound;
    socket.startReceiving(
      frames => this.onMessage(frames),
      err => this.log.error(`Receive loop error: ${String(err)}`),
    );
    this.liveness.start();
    this._status$.next(ZmqStatus.CONNECTED);
  }

  /**
   * Stops serving: no handler runs after this, open streams are unsubscribed,
   * clients get BYE, and the socket is closed. Safe to call twice or before listen.
   */
  async close(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined || this.closing) return;
    this.closing = true;
    this.liveness.stop();
    for (const peer of [...this.peers.values()]) {
      this.sendTo(peer, controlEnvelope(MessageType.Bye));
      this.removePeer(peer, 'bye');
    }
    await socket.close();
    this.socket = undefined;
    this.bound = [];
    this._status$.next(ZmqStatus.DISCONNECTED);
  }

  /** Listens to `peer:joined` / `peer:left`. */
  on<K extends keyof ZmqEvents>(event: K, callback: ZmqEvents[K]): this {
    this.monitor.on(event, callback);
    return this;
  }

  /** The underlying zeromq.js `Router`. Throws before `listen()`. */
  unwrap<T>(): T {
    if (this.socket === undefined) {
      throw new Error('Not initialized. Please call the "listen"/"startAllMicroservices" method before accessing the server.');
    }
    return this.socket.raw as T;
  }

  /** Clients that completed the handshake. */
  getPeers(): ZmqPeerInfo[] {
    return [...this.peers.values()].map(p => ({
      peerId: p.id,
      direction: 'downstream',
      metadata: p.metadata,
      pending: p.calls.size,
    }));
  }

  /** Peers, calls in flight, queued envelopes and dropped messages by reason. */
  getStats(): ZmqServerStats {
    let inFlight = 0;
    for (const peer of this.peers.values()) inFlight += peer.calls.size;
    return { peers: this.peers.size, inFlight, queued: this.socket?.queued ?? 0, dropped: this.monitor.drops() };
  }

  override addHandler(...args: Parameters<Server['addHandler']>): void {
    super.addHandler(...args);
    this.handlerCache.clear();
  }

  private lookup(pattern: string): MessageHandler | null {
    let handler = this.handlerCache.get(pattern);
    if (handler === undefined) {
      handler = this.getHandlerByPattern(pattern);
      if (this.handlerCache.size < 10_000) this.handlerCache.set(pattern, handler);
    }
    return handler;
  }

  private onMessage(frames: Buffer[]): void {
    if (this.closing) return;
    if (!checkFrameCount(frames, 1)) {
      this.monitor.drop('frameCount', `wrong frame count (${frames.length})`);
      return;
    }
    const routingId = frames[0]!;
    const key = routingId.toString('latin1');
    const sender = this.peers.get(key);
    if (sender !== undefined) sender.lastSeen = this.liveness.clock.now();
    for (let i = 1; i < frames.length; i += 2) {
      let env: Envelope;
      try {
        env = decodeEnvelope(frames[i]!, frames[i + 1]!, this.maxPayload);
      } catch (err) {
        this.onMalformed(err, routingId, key, frames[i]!);
        continue;
      }
      const peer = this.peers.get(key);
      if (env.type === MessageType.Hello) {
        this.onHello(routingId, key, env);
      } else if (peer === undefined) {
        this.onUnknownPeer(routingId, env);
      } else {
        this.dispatch(peer, env);
      }
      if (this.closing) return;
    }
  }

  private dispatch(peer: ServerPeer, env: Envelope): void {
    switch (env.type) {
      case MessageType.Request:
        return this.onRequest(peer, env);
      case MessageType.Event:
        return this.onEvent(peer, env);
      case MessageType.Cancel:
        return this.endCall(peer.calls.get(env.id));
      case MessageType.Ping:
        return this.sendTo(peer, controlEnvelope(MessageType.Pong));
      case MessageType.Pong:
        return;
      case MessageType.Bye:
        return this.removePeer(peer, 'bye');
      default:
        this.monitor.drop('unexpected', `message type ${env.type} from a client`);
    }
  }

  private onMalformed(err: unknown, routingId: Buffer, key: string, header: Buffer): void {
    if (!(err instanceof MalformedError)) throw err;
    const foreign = peekForeignVersion(header, MessageType.Hello);
    if (foreign !== undefined) {
      this.refuseVersion(routingId, foreign, undefined);
    } else if (err.id !== 0 && header[1] === MessageType.Request && this.peers.has(key)) {
      this.sendRouted(routingId, malformedReply(err.id, err.message));
    }
    this.monitor.drop(err.reason, err.message);
  }

  private onHello(routingId: Buffer, key: string, env: Envelope): void {
    if (handshakeTooLarge(env.payload)) {
      this.monitor.drop('oversized', 'hello too large');
      return;
    }
    let hello;
    try {
      hello = validateHello(decodePayload(env.encoding, env.payload));
    } catch (err) {
      hello = err instanceof Error ? err.message : 'hello is not JSON';
    }
    if (typeof hello === 'string') {
      this.monitor.drop('payload', hello);
      this.refuse(routingId, ZmqErrorCode.HANDSHAKE_REFUSED, `Invalid hello: ${hello}`);
      return;
    }
    if (hello.version !== PROTOCOL_VERSION) {
      this.monitor.drop('version', `hello of version ${hello.version}`);
      this.refuseVersion(routingId, hello.version, hello.id);
      return;
    }
    const existing = this.peers.get(key);
    if (existing !== undefined && existing.id === hello.id && existing.instance === hello.instance) {
      // The same client on the same connection lost track of its session
      // (it declared this server dead, e.g. while this process was stopped)
      // and has already failed its calls: end them here too, and renew.
      for (const call of [...existing.calls.values()]) this.endCall(call);
      this.sendTo(existing, this.welcomeEnvelope());
      return;
    }
    const sameId = this.peersById.get(hello.id);
    if (sameId !== undefined && sameId !== existing && hello.instance !== undefined && hello.instance === sameId.instance) {
      // The same client object on a new connection (it closed and connected
      // again): its BYE on the old connection may not have arrived yet, since
      // ZeroMQ orders nothing across connections. Hand the session over.
      this.removePeer(sameId, 'disconnect');
    } else if (sameId !== undefined && sameId !== existing) {
      const error = new ZmqHandshakeRefusedError(`A client with id "${hello.id}" is already connected`);
      this.log.warn(`Refused a client claiming id ${hello.id}, which is already connected`);
      this.refuse(routingId, error.code, error.message);
      this.monitor.refused({ peerId: hello.id, direction: 'downstream', error });
      return;
    }
    if (existing !== undefined) this.removePeer(existing, 'disconnect');
    const peer: ServerPeer = {
      key,
      routingId,
      id: hello.id,
      instance: hello.instance,
      metadata: hello.metadata,
      calls: new Map(),
      ...this.liveness.fresh(),
    };
    this.peers.set(key, peer);
    this.peersById.set(peer.id, peer);
    this.sendTo(peer, this.welcomeEnvelope());
    this.monitor.notify('peer:joined', { peerId: peer.id, direction: 'downstream', metadata: peer.metadata });
  }

  private welcomeEnvelope(): OutEnvelope {
    const welcome: Welcome = {
      version: PROTOCOL_VERSION,
      id: this.id,
      metadata: this.serverMetadata,
      heartbeat: this.heartbeat,
      ...this.servedPatterns(),
    };
    return dataEnvelope(MessageType.Welcome, 0, welcome, Number.MAX_SAFE_INTEGER);
  }

  private refuseVersion(routingId: Buffer, version: number, peerId: string | undefined): void {
    const error = new ZmqVersionMismatchError(PROTOCOL_VERSION, version);
    this.log.warn(
      `Refused client ${peerId ?? '(unknown id)'}: it speaks protocol version ${version}; this server speaks ${PROTOCOL_VERSION}`,
    );
    this.refuse(routingId, error.code, `Protocol version ${version} is not supported; this server speaks ${PROTOCOL_VERSION}`);
    this.monitor.refused({ ...(peerId !== undefined ? { peerId } : {}), direction: 'downstream', error });
  }

  private servedPatterns(): { patterns: string[]; events: string[] } {
    const patterns: string[] = [];
    const events: string[] = [];
    for (const [pattern, handler] of this.getHandlers()) {
      (handler.isEventHandler ? events : patterns).push(pattern);
    }
    return { patterns, events };
  }

  private refuse(routingId: Buffer, code: string, message: string): void {
    const refusal: Refusal = { status: 'error', code, message, version: PROTOCOL_VERSION };
    this.sendRouted(routingId, errorEnvelope(0, refusal));
  }

  private onUnknownPeer(routingId: Buffer, env: Envelope): void {
    this.monitor.drop('notReady', `message type ${env.type} before the handshake`);
    if (env.type === MessageType.Ping) {
      // A client that believes it has a session (this server timed it out,
      // or restarted): tell it to handshake again.
      this.refuse(routingId, ZmqErrorCode.NOT_READY, NO_SESSION);
    } else if (env.type === MessageType.Request) {
      this.sendRouted(
        routingId,
        errorEnvelope(env.id, {
          status: 'error',
          code: ZmqErrorCode.NOT_READY,
          message: NO_SESSION,
        }),
      );
    }
  }

  private onRequest(peer: ServerPeer, env: Envelope): void {
    const pattern = env.pattern!;
    if (peer.calls.has(env.id)) {
      this.monitor.drop('unexpected', `duplicate request id ${env.id}`);
      return;
    }
    const handler = this.lookup(pattern);
    if (handler === null || handler.isEventHandler) {
      this.sendTo(
        peer,
        errorEnvelope(env.id, {
          status: 'error',
          code: ZmqErrorCode.NO_HANDLER,
          message: `${NO_MESSAGE_HANDLER} Pattern: ${pattern}`,
          pattern,
        }),
      );
      return;
    }
    let data: unknown;
    try {
      data = decodePayload(env.encoding, env.payload, env.id);
    } catch (err) {
      this.monitor.drop('payload', (err as Error).message);
      this.sendTo(peer, malformedReply(env.id, (err as Error).message));
      return;
    }
    const call: ServerCall = { id: env.id, peer, done: false, subscription: undefined };
    peer.calls.set(call.id, call);
    const ctx = new ZmqContext([pattern, peer.id, call.id, env.metadata ?? null]);
    this.withProcessingHooks(ctx, end => this.execute(call, handler, data, ctx, end));
  }

  /**
   * Runs `fn` inside Nest's processing hooks (v11 and v12 both have
   * onProcessingStartHook / onProcessingEndHook); the end hook runs once.
   */
  private withProcessingHooks(ctx: ZmqContext, fn: (end: () => void) => Promise<void>): void {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.onProcessingEndHook?.(this.transportId, ctx);
    };
    try {
      const result = this.onProcessingStartHook(this.transportId, ctx, async () => {
        try {
          await fn(end);
        } catch (err) {
          end();
          throw err;
        }
      });
      Promise.resolve(result).catch(err => this.log.error(`Handler failed: ${String(err)}`));
    } catch (err) {
      this.log.error(`Processing hook failed: ${String(err)}`);
    }
  }

  private async execute(
    call: ServerCall,
    handler: MessageHandler,
    data: unknown,
    ctx: ZmqContext,
    end: () => void,
  ): Promise<void> {
    let result: unknown;
    try {
      result = await handler(data, ctx);
    } catch (err) {
      this.finishCall(call, errorEnvelope(call.id, err));
      end();
      return;
    }
    if (call.done) {
      // Cancelled, or the peer left, while the handler ran.
      end();
      return;
    }
    if (!isObservable(result)) {
      this.finishCall(call, this.replyEnvelope(call, result, Flag.End));
      end();
      return;
    }
    const subscription = result.subscribe({
      next: value => {
        if (call.done) return;
        const env = this.replyEnvelope(call, value, 0);
        if (env.type === MessageType.Error) {
          this.finishCall(call, env);
          call.subscription?.unsubscribe();
        } else {
          this.sendTo(call.peer, env);
        }
      },
      error: err => this.finishCall(call, errorEnvelope(call.id, err)),
      complete: () => this.finishCall(call, controlEnvelope(MessageType.End, call.id)),
    });
    subscription.add(end);
    if (call.done) {
      subscription.unsubscribe();
    } else {
      call.subscription = subscription;
    }
  }

  /** A CHUNK for `value`, or an ERROR when the value cannot go on the wire. */
  private replyEnvelope(call: ServerCall, value: unknown, flags: number): OutEnvelope {
    if (value === undefined && flags & Flag.End) {
      return controlEnvelope(MessageType.End, call.id);
    }
    try {
      return dataEnvelope(MessageType.Chunk, call.id, value, this.maxPayload, flags);
    } catch (err) {
      this.log.error(`Reply to ${call.peer.id}#${call.id} could not be sent: ${(err as Error).message}`);
      return errorEnvelope(call.id, { status: 'error', code: (err as { code?: string }).code, message: (err as Error).message });
    }
  }

  /** Sends the last envelope of a call and forgets it. */
  private finishCall(call: ServerCall, last: OutEnvelope): void {
    if (call.done) return;
    call.done = true;
    call.peer.calls.delete(call.id);
    this.sendTo(call.peer, last);
  }

  /** Ends a call without sending anything more (cancel, peer gone, close). */
  private endCall(call: ServerCall | undefined): void {
    if (call === undefined || call.done) return;
    call.done = true;
    call.peer.calls.delete(call.id);
    call.subscription?.unsubscribe();
  }

  private onEvent(peer: ServerPeer, env: Envelope): void {
    let data: unknown;
    try {
      data = decodePayload(env.encoding, env.payload);
    } catch (err) {
      this.monitor.drop('payload', (err as Error).message);
      return;
    }
    const pattern = env.pattern!;
    const ctx = new ZmqContext([pattern, peer.id, undefined, env.metadata ?? null]);
    const packet = { pattern, data, ...(env.metadata ? { metadata: env.metadata } : {}) };
    this.handleEvent(pattern, packet, ctx).catch(err => this.log.error(`Event handler for "${pattern}" failed: ${String(err)}`));
  }

  private sendTo(peer: ServerPeer, env: OutEnvelope): void {
    this.sendRouted(peer.routingId, env);
  }

  private sendRouted(routingId: Buffer, env: OutEnvelope): void {
    try {
      this.socket?.send(env, routingId);
    } catch (err) {
      // Queue full: the envelope is lost; count it so it is never silent.
      this.monitor.drop('sendFailed', (err as Error).message);
    }
  }

  private onSendError(envs: OutEnvelope[], dest: Buffer | undefined, err: unknown): void {
    const code = (err as { code?: string }).code;
    // Heartbeat PINGs carry nothing: losing them is not a drop.
    let lost = 0;
    for (const env of envs) if (env.type !== MessageType.Ping) lost++;
    if (lost > 0) {
      this.monitor.drop(code === 'EHOSTUNREACH' ? 'unroutable' : 'sendFailed', `${lost} envelope(s): ${String(err)}`, lost);
    }
    if (code === 'EHOSTUNREACH' && dest !== undefined) {
      const peer = this.peers.get(dest.toString('latin1'));
      if (peer !== undefined) this.removePeer(peer, 'disconnect');
    }
  }

  private removePeer(peer: ServerPeer, reason: ZmqPeerLeftReason): void {
    if (this.peers.get(peer.key) !== peer) return;
    this.peers.delete(peer.key);
    if (this.peersById.get(peer.id) === peer) this.peersById.delete(peer.id);
    for (const call of [...peer.calls.values()]) this.endCall(call);
    this.monitor.notify('peer:left', { peerId: peer.id, direction: 'downstream', metadata: peer.metadata, reason });
  }


}
