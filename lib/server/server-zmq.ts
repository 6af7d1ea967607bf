import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { loadMsgpack } from '../common/msgpack-loader.js';
import { endServerSpan, loadTracing, startServerSpan } from '../common/tracing.js';
import { TransportMonitor } from '../common/transport-monitor.js';
import { resolveServerConfig } from '../config/server-config.js';
import { ZmqContext } from '../ctx-host/zmq.context.js';
import { ZmqEvents, ZmqPeerInfo, ZmqStats, ZmqStatus } from '../interfaces/zmq-events.interface.js';
import { ZmqServerOptions } from '../interfaces/zmq-options.interface.js';
import type { ZmqMetrics } from '../interfaces/zmq-metrics.interface.js';
import { monotonicClock } from '../protocol/clock.js';
import type { Metadata } from '../protocol/frames.js';
import { Metrics } from '../protocol/metrics.js';
import type { ServerCall } from '../protocol/server/server-call.js';
import { ServerEngine, type ServerState } from '../protocol/server/server-engine.js';
import type { Served, ServerHost } from '../protocol/server/server-deps.js';
import { routerChannel } from '../transport/zmq-channels.js';
import { checkReservedPatterns, introspect, mayIntrospect, notServed, ZMQ_METRICS_PATTERN } from './introspection.js';
import { ZmqOptionsError } from '../errors/zmq.errors.js';
import type { ZmqAllow } from '../interfaces/zmq-options.interface.js';
import { ServerSecurity } from './server-security.js';
import { runDirect, runHooked } from './processing.js';

/**
 * Default transport id of every {@link ServerZmq}. Name it in
 * `@MessagePattern('sum', ZMQ_TRANSPORT)` to bind a handler to ZeroMQ servers only.
 * A registered symbol: the CommonJS and ESM builds of this package share it.
 */
export const ZMQ_TRANSPORT: unique symbol = Symbol.for('nestjs-zeromq.ZMQ_TRANSPORT');

const HANDLER_CACHE_LIMIT = 10_000;

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
export class ServerZmq
  extends Server<ZmqEvents, ZmqStatus>
  implements CustomTransportStrategy, ServerHost<MessageHandler>
{
  override readonly transportId: symbol;
  /** This server's id, sent to clients in the handshake. */
  readonly id: string;

  private readonly log = new Logger('ServerZmq');
  private readonly monitor: TransportMonitor;
  private readonly engine: ServerEngine<MessageHandler>;
  private readonly handlerCache = new Map<string, MessageHandler | null>();
  private readonly eventCache = new Map<string, boolean>();
  /** Nest's own start hook (it only calls `done`): while it is in place, requests skip the hook wrapper. */
  private readonly defaultStartHook = this.onProcessingStartHook;
  private readonly msgpack: boolean;
  private readonly metrics: Metrics;
  /** The built-in `$zmq/metrics` handler, unless `introspection: false`. */
  private readonly introspection: MessageHandler | null;
  /** When `listen()` completed (monotonic ms), for the introspection's uptime. */
  private listenedAt = 0;
  private readonly security: ServerSecurity | undefined;

  constructor(options: ZmqServerOptions) {
    super();
    const config = resolveServerConfig(options);
    this.transportId = config.transportId ?? ZMQ_TRANSPORT;
    this.id = config.id;
    this.msgpack = config.msgpack;
    this.monitor = new TransportMonitor(this.log, 'server', this.id);
    this.metrics = new Metrics(monotonicClock, config.metrics, false);
    const policy = config.introspection;
    this.introspection =
      policy.kind === 'off'
        ? null
        : (((_data: unknown, ctx: ZmqContext) =>
            mayIntrospect(policy, ctx.getPublicKey())
              ? Promise.resolve(introspect(this, this.listenedAt))
              : Promise.reject(notServed(ZMQ_METRICS_PATTERN))) as unknown as MessageHandler);
    const security = (this.security = config.curve && new ServerSecurity(config.curve, this.id, this.monitor));
    this.engine = new ServerEngine({
      config,
      bind: routerChannel(config.socket, security?.router),
      host: this,
      observer: this.monitor,
      serializers: config.serializers,
      metrics: this.metrics,
      ...(security !== undefined ? { authorize: security.authorize } : {}),
    });
  }

  /** The endpoints bound by `listen()`, with `*` ports resolved. */
  get endpoints(): string[] {
    return this.engine.endpoints;
  }

  /**
   * `listening` from `listen()`'s bind until `close()` (accepting clients),
   * `binding` during the bind, `draining` while its calls finish after
   * `close()`, `closing` while it says BYE, `idle` otherwise.
   */
  get state(): ServerState['kind'] {
    return this.engine.state.kind;
  }

  /** Binds every endpoint, then calls `callback()`, or `callback(err)` when a bind fails. */
  listen(callback: (...optionalParams: unknown[]) => unknown): void {
    const ready = Promise.all([this.msgpack ? loadMsgpack() : undefined, loadTracing()]);
    ready
      .then(() => checkReservedPatterns(this.getHandlers().keys()))
      .then(() => this.engine.listen())
      .then(
        () => {
          this.listenedAt = monotonicClock.now();
          this._status$.next(ZmqStatus.CONNECTED);
          callback();
        },
        err => {
          this._status$.next(ZmqStatus.DISCONNECTED);
          callback(err);
        },
      );
  }

  /**
   * Stops serving, gracefully: clients are told DRAIN (they send new requests
   * elsewhere) and the calls in progress finish, up to `drainTimeout`; then
   * no handler runs any more, open streams are unsubscribed, clients get BYE,
   * and the socket is closed. Safe to call twice or before listen.
   */
  async close(): Promise<void> {
    if (this.engine.state.kind === 'idle') return;
    await this.engine.close();
    this._status$.next(ZmqStatus.DISCONNECTED);
  }

  /** Listens to `peer:joined` / `peer:left` / `peer:refused`. */
  on<K extends keyof ZmqEvents>(event: K, callback: ZmqEvents[K]): this {
    this.monitor.on(event, callback);
    return this;
  }

  /** The underlying zeromq.js `Router`. Throws before `listen()`. */
  unwrap<T>(): T {
    const raw = this.engine.raw;
    if (raw === undefined) {
      throw new Error(
        'Not initialized. Please call the "listen"/"startAllMicroservices" method before accessing the server.',
      );
    }
    return raw as T;
  }

  /**
   * Replaces the allow-list of a CURVE server (a list of public keys, a
   * function, or `'*'`). It applies to handshakes from now on: clients
   * connected now stay connected; end one with {@link disconnect}.
   */
  setAllow(allow: ZmqAllow): void {
    if (this.security === undefined) throw new ZmqOptionsError('allow', 'setAllow() needs a server with "curve"');
    this.security.authority.set(allow);
  }

  /**
   * Ends the sessions of the client with this CURVE public key: it gets BYE,
   * its calls are cancelled, `peer:left` fires (reason `disconnect`). While
   * the key is not allowed, it cannot open a session again. Returns how many
   * sessions ended.
   */
  disconnect(publicKey: string): number {
    this.security?.authority.revoke(publicKey);
    return this.engine.endSessionsOfKey(publicKey);
  }

  /** Clients that completed the handshake. */
  getPeers(): ZmqPeerInfo[] {
    return this.engine.peers();
  }

  /** Peers, calls in flight, queued envelopes and dropped messages by reason. */
  getStats(): ZmqStats {
    return {
      ...this.engine.stats(),
      dropped: this.monitor.drops(),
      refused: this.monitor.refusedCount,
      admission: this.engine.admissionStats(),
    };
  }

  /**
   * Per-pattern requests, events, errors by code, cancels, timeouts and
   * handler-time histograms, and the peers / inFlight / queued gauges, as
   * plain data (README "Metrics").
   */
  getMetrics(): ZmqMetrics {
    return this.metrics.snapshot(this.engine.stats());
  }

  override addHandler(...args: Parameters<Server['addHandler']>): void {
    super.addHandler(...args);
    this.handlerCache.clear();
    this.eventCache.clear();
  }

  /** @internal The message handler of a pattern, cached (ServerHost). */
  requestHandler(pattern: string): MessageHandler | null {
    if (pattern === ZMQ_METRICS_PATTERN) return this.introspection;
    let handler = this.handlerCache.get(pattern);
    if (handler === undefined) {
      const found = this.getHandlerByPattern(pattern);
      handler = found === null || found.isEventHandler ? null : found;
      if (this.handlerCache.size < HANDLER_CACHE_LIMIT) this.handlerCache.set(pattern, handler);
    }
    return handler;
  }

  /** @internal Whether an event of `pattern` has a handler (ServerHost): one without is dropped undecoded. */
  servesEvent(pattern: string): boolean {
    let served = this.eventCache.get(pattern);
    if (served === undefined) {
      served = this.getHandlerByPattern(pattern) !== null;
      if (this.eventCache.size < HANDLER_CACHE_LIMIT) this.eventCache.set(pattern, served);
    }
    return served;
  }

  /** @internal Normalized patterns of the message and event handlers (ServerHost). */
  served(): Served {
    const patterns: string[] = [];
    const events: string[] = [];
    const idempotent: string[] = [];
    for (const [pattern, handler] of this.getHandlers()) {
      if (handler.isEventHandler) {
        events.push(pattern);
        continue;
      }
      patterns.push(pattern);
      if ((handler.extras as { idempotent?: unknown } | undefined)?.idempotent === true) idempotent.push(pattern);
    }
    if (this.introspection !== null) patterns.push(ZMQ_METRICS_PATTERN);
    return idempotent.length > 0 ? { patterns, events, idempotent } : { patterns, events };
  }

  /** @internal Runs a request inside Nest's processing hooks (ServerHost). */
  runRequest(call: ServerCall, handler: MessageHandler, data: unknown, metadata: Metadata | undefined): void {
    const trace = startServerSpan(call.pattern, call.session.id, call.id, metadata);
    if (trace === undefined) return this.handle(call, handler, data, metadata);
    trace.run(() => this.handle(call, handler, data, metadata, () => endServerSpan(trace.call, call)));
  }

  /** Runs a request's handler inside Nest's processing hooks; `onEnd` runs once the call has ended. */
  private handle(
    call: ServerCall,
    handler: MessageHandler,
    data: unknown,
    metadata: Metadata | undefined,
    onEnd?: () => void,
  ): void {
    const { session } = call;
    const ctx = new ZmqContext([call.pattern, session.id, call.id, metadata ?? null, call.deadline, session.publicKey]);
    if (this.onProcessingStartHook === this.defaultStartHook && this.onProcessingEndHook === undefined) {
      return runDirect(this.log, call, handler, data, ctx, onEnd);
    }
    const hooks = { start: this.onProcessingStartHook, end: this.onProcessingEndHook, transportId: this.transportId };
    runHooked(hooks, this.log, ctx, onEnd, async end => {
      let result: unknown;
      try {
        result = await handler(data, ctx);
      } catch (err) {
        call.fail(err);
        return end();
      }
      call.respond(result, end);
    });
  }

  /** @internal Runs the event handlers of an event (ServerHost). */
  runEvent(pattern: string, data: unknown, peerId: string, metadata: Metadata | undefined, publicKey?: string): void {
    const ctx = new ZmqContext([pattern, peerId, undefined, metadata ?? null, undefined, publicKey]);
    this.metrics.event(pattern);
    const packet = { pattern, data, ...(metadata ? { metadata } : {}) };
    const trace = startServerSpan(pattern, peerId, undefined, metadata);
    const handled =
      trace === undefined
        ? this.handleEvent(pattern, packet, ctx)
        : trace.run(() => this.handleEvent(pattern, packet, ctx));
    handled.then(
      () => trace?.call.end('ok'),
      err => {
        trace?.call.end('error', err);
        this.log.error(`Event handler for "${pattern}" failed: ${String(err)}`);
      },
    );
  }
}
