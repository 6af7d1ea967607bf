import { Logger } from '@nestjs/common';
import { ClientProxy, MsPattern, ReadPacket, WritePacket } from '@nestjs/microservices';
import {
  catchError,
  connectable,
  defer,
  map,
  merge,
  mergeMap,
  Observable,
  of,
  ReplaySubject,
  Subscriber,
  throwError,
} from 'rxjs';
import { TransportMonitor } from '../common/transport-monitor.js';
import { printable } from '../common/log-limiter.js';
import { encodeMetadata, Metadata } from '../protocol/frames.js';
import { resolveClientConfig } from '../config/client-config.js';
import { checkEndpoint } from '../config/validate.js';
import {
  ZmqEndpointInfo,
  ZmqEvents,
  ZmqPeerInfo,
  ZmqPeerReply,
  ZmqStats,
  ZmqStatus,
  ZmqTarget,
} from '../interfaces/zmq-events.interface.js';
import { ZmqRemoteError } from '../errors/zmq.errors.js';
import { ZmqClientOptions } from '../interfaces/zmq-options.interface.js';
import type { ZmqMetrics } from '../interfaces/zmq-metrics.interface.js';
import type { ClientEngine } from '../protocol/client/client-engine.js';
import { monotonicClock } from '../protocol/clock.js';
import { Metrics } from '../protocol/metrics.js';
import { probeAll, ZmqPingResult } from '../protocol/client/ping-probe.js';
import { DEFAULT_PING_TIMEOUT } from '../defaults.js';
import { ANY_SERVER, Route } from '../protocol/client/client-deps.js';
import { startClientSpan } from '../common/tracing.js';
import { tracedEmit, tracedRequest } from './traced-request.js';
import { clientEngine, connector } from './client-connect.js';
import { recordData, recordPolicy, ZmqRecord } from './zmq-record.js';
import type { CallPolicy } from '../protocol/client/retries.js';

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
  /** The server endpoints this client connects to (its `connect` option). */
  readonly endpoints: readonly string[];

  /**
   * `connected` once a server completed the handshake, `reconnecting` when it
   * had servers and has none now, `disconnected` when closed; pushed once per
   * change. (Narrowed here: `ClientProxy<ZmqEvents, ZmqStatus>` would make the
   * class unassignable to `Type<ClientProxy>`, breaking `customClass: ClientZmq`.)
   */
  override get status(): Observable<ZmqStatus> {
    return super.status as Observable<ZmqStatus>;
  }

  private readonly monitor: TransportMonitor;
  private readonly engine: ClientEngine;
  private readonly metrics: Metrics;
  /** Optional modules loaded once, then the engine's connect (client-connect.ts). */
  private readonly connector: () => Promise<void>;

  constructor(options: ZmqClientOptions) {
    super();
    const config = resolveClientConfig(options);
    this.id = config.id;
    this.endpoints = config.endpoints;
    this.connector = connector(() => this.engine, config);
    this.monitor = new TransportMonitor(new Logger('ClientZmq'), 'client', this.id);
    this.metrics = new Metrics(monotonicClock, config.metrics, true);
    this.engine = clientEngine(config, this.monitor, this.metrics, status => this._status$.next(status));
  }

  /**
   * Connects a DEALER to every endpoint and resolves once one server has
   * completed the handshake. Rejects with `CONNECT_TIMEOUT` when none has
   * within `connectTimeout` (the sockets keep trying in the background, so a
   * later call resolves once a server is up), or at once with the servers'
   * refusal when every one refused (`AUTH_FAILED`: a key not on a CURVE
   * server's allow-list, a CURVE client of a plaintext server). The promise
   * is cached: Nest calls this before every `send()` / `emit()`.
   */
  connect(): Promise<void> {
    return this.connector();
  }

  /** Fails every pending call with `CLOSED`, says BYE, closes the sockets; `connect()` works again after. */
  async close(): Promise<void> {
    await this.engine.close();
  }

  /** Listens to `peer:joined` / `peer:left` / `peer:refused`. */
  override on<K extends keyof ZmqEvents>(event: K, callback: ZmqEvents[K]): this {
    this.monitor.on(event, callback);
    return this;
  }

  /** The zeromq.js `Dealer` sockets, one per endpoint. Throws before `connect()`. */
  unwrap<T>(): T {
    const links = this.engine.links;
    if (links.length === 0) throw new Error('Not initialized. Please call the "connect" method first.');
    return links.map(l => l.channel.raw) as T;
  }

  /** Adds an endpoint (checked like `connect`; a name resolves to every address), connected now or at `connect()`. */
  addEndpoint(endpoint: string): boolean {
    checkEndpoint(endpoint, 'connect');
    return this.engine.endpoints.add(endpoint);
  }

  /** Removes an endpoint: no new request goes there; its links close (BYE) once their calls ended. */
  removeEndpoint(endpoint: string): boolean {
    return this.engine.endpoints.remove(endpoint);
  }

  /** The endpoints now (configured and added), each with the address endpoints it resolved to (one link each). */
  getEndpoints(): ZmqEndpointInfo[] {
    return this.engine.endpoints.list();
  }

  /** Servers with a session up now, with what they serve. */
  getPeers(): ZmqPeerInfo[] {
    return this.engine.peers();
  }

  /**
   * A PING round trip to every connected server, on the sessions already up
   * (the heartbeat's PING/PONG: no request, no new connection). Resolves
   * with each server's `rttMs`, or its `error` (`TIMEOUT` when no PONG came
   * within `timeoutMs`, `PEER_LOST` when the session ended first); never
   * rejects. A client with no server connected resolves `[]`.
   *
   * ```ts
   * const [math] = await client.ping(); // { peerId: 'math', endpoint: 'tcp://…', rttMs: 0.21 }
   * ```
   */
  ping(timeoutMs: number = DEFAULT_PING_TIMEOUT): Promise<ZmqPingResult[]> {
    return probeAll(this.engine.links, this.engine.clock, timeoutMs);
  }

  /** Peers, calls in flight, queued envelopes and dropped messages by reason. */
  getStats(): ZmqStats {
    return {
      ...this.engine.stats(),
      dropped: this.monitor.drops(),
      refused: this.monitor.refusedCount,
      resilience: this.engine.resilienceStats(),
    };
  }

  /**
   * Per-pattern requests, events, errors by code, cancels, timeouts,
   * round-trip and time-to-first-chunk histograms, and the peers / inFlight /
   * queued gauges, as plain data (README "Metrics").
   */
  getMetrics(): ZmqMetrics {
    return this.metrics.snapshot(this.engine.stats());
  }

  /**
   * Nest's `send()`, with a shortcut once a server is connected: Nest wraps
   * every request in `defer(connect)` + `mergeMap`, which costs more CPU per
   * request than the transport itself. Still cold: nothing is sent until
   * someone subscribes. Before a connection, it is Nest's own path.
   * `data` may be a {@link ZmqRecord}: the server gets its data, and its
   * options apply to this call (`retry`, `hedge`).
   */
  override send<TResult = any, TInput = any>(pattern: any, data: TInput): Observable<TResult> {
    const value = recordData(data);
    if (pattern === null || pattern === undefined || value === null || value === undefined) {
      return super.send<TResult>(pattern, value); // Nest's InvalidMessageException
    }
    return this.request<TResult>(pattern, value, ANY_SERVER, recordPolicy(data));
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
    return this.request<TResult>(pattern, recordData(data), { target }, recordPolicy(data));
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
  broadcast<TResult = any, TInput = any>(
    pattern: any,
    data: TInput,
    target?: ZmqTarget,
  ): Observable<ZmqPeerReply<TResult>> {
    return defer(() => this.connect()).pipe(
      mergeMap(() => {
        const packet = packetOf(this, pattern, recordData(data));
        const policy = recordPolicy(data);
        let links;
        try {
          links = this.engine.serversOf(this.normalizePattern(packet.pattern as MsPattern), target);
        } catch (err) {
          return throwError(() => err);
        }
        const replies = links.map(link =>
          peerReplies(
            link.welcome!.id,
            new Observable<TResult>(observer =>
              this.publishOn(packet, this.createObserver(observer), { link }, policy),
            ),
          ),
        );
        return merge(...replies);
      }),
    );
  }

  /**
   * Emits the event to the servers `target` selects among those that handle
   * it (one of them, picked by `strategy`). Hot, like `emit()`; the
   * Observable yields the id of the server it went to.
   */
  emitTo<TInput = any>(target: ZmqTarget, pattern: any, data: TInput): Observable<string> {
    return this.hotEvent(pattern, data, target, false).pipe(map(ids => ids[0]!));
  }

  /**
   * Emits the event to every server that handles it (and matches `target`,
   * when given). Hot, like `emit()`; the Observable yields the ids of the
   * servers it went to. None fails with `NO_PEER`.
   */
  emitAll<TInput = any>(pattern: any, data: TInput, target?: ZmqTarget): Observable<string[]> {
    return this.hotEvent(pattern, data, target, true);
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    return this.publishOn(packet, callback, ANY_SERVER);
  }

  protected dispatchEvent<T = any>(packet: ReadPacket): Promise<T> {
    return new Promise<T>(resolve => {
      // An event's record gives its data: an event is sent once, whatever its options.
      this.emitOn(ZmqRecord.is(packet.data) ? { ...packet, data: packet.data.data } : packet, undefined, false);
      resolve(undefined as T);
    });
  }

  /** Local errors pass through; a remote error value becomes a {@link ZmqRemoteError}. */
  protected override serializeError(err: unknown): unknown {
    return err instanceof Error ? err : new ZmqRemoteError(err);
  }

  /** A cold request: published at subscription, after `connect()` only while no server is up. */
  private request<TResult>(pattern: unknown, data: unknown, route: Route, policy?: CallPolicy): Observable<TResult> {
    const publish = (observer: Subscriber<TResult>) =>
      this.publishOn(packetOf(this, pattern, data), this.createObserver(observer), route, policy);
    return new Observable<TResult>(observer => {
      if (this.engine.isConnected) return publish(observer);
      const sub = defer(() => this.connect())
        .pipe(mergeMap(() => new Observable<TResult>(publish)))
        .subscribe(observer);
      return () => sub.unsubscribe();
    });
  }

  private publishOn(
    packet: ReadPacket,
    callback: (packet: WritePacket) => void,
    route: Route,
    policy?: CallPolicy,
  ): () => void {
    let pattern: string;
    let metadata: Buffer | undefined;
    try {
      pattern = this.normalizePattern(packet.pattern as MsPattern);
      metadata = metadataOf(packet);
    } catch (err) {
      callback({ err, isDisposed: true });
      return noop;
    }
    const trace = startClientSpan(pattern);
    if (trace === undefined) return this.engine.request(pattern, packet.data, metadata, callback, route, policy);
    return tracedRequest(this.engine, trace, pattern, packet, callback, route, policy);
  }

  /** Sends an event; one that cannot go out is counted and logged (a hot emit's error may have no reader). */
  private emitOn(packet: ReadPacket, target: ZmqTarget | undefined, all: boolean): string[] {
    try {
      const pattern = this.normalizePattern(packet.pattern as MsPattern);
      const trace = startClientSpan(pattern, 'emit');
      const ids =
        trace === undefined
          ? this.engine.emit(pattern, packet.data, metadataOf(packet), target, all)
          : tracedEmit(trace, packet, metadata => this.engine.emit(pattern, packet.data, metadata, target, all));
      this.metrics.event(pattern, ids.length);
      return ids;
    } catch (err) {
      eventNotSent(this.monitor, err);
      throw err;
    }
  }

  private hotEvent(pattern: any, data: unknown, target: ZmqTarget | undefined, all: boolean): Observable<string[]> {
    const value = recordData(data);
    return runHot(
      defer(() => this.connect()).pipe(map(() => this.emitOn(packetOf(this, pattern, value), target, all))),
    );
  }
}

function noop(): void {}

/** Nest 12 packet metadata (set by `setOnDispatchHook`), encoded for the header; `undefined` when there is none. */
function metadataOf(packet: ReadPacket): Buffer | undefined {
  const metadata = (packet as { metadata?: Metadata }).metadata;
  if (metadata === undefined || metadata === null || Object.keys(metadata).length === 0) return undefined;
  return encodeMetadata(metadata);
}

/** One server's replies in a broadcast: each value, or its error, tagged with the server's id. */
function peerReplies<T>(peerId: string, replies: Observable<T>): Observable<ZmqPeerReply<T>> {
  return replies.pipe(
    map((value): ZmqPeerReply<T> => ({ peerId, value })),
    catchError((error: Error) => of<ZmqPeerReply<T>>({ peerId, error })),
  );
}

/** Runs `source` now (hot, like Nest's `emit()`) and replays its outcome to late subscribers. */
function runHot<T>(source: Observable<T>): Observable<T> {
  const hot = connectable(source, { connector: () => new ReplaySubject<T>(1), resetOnDisconnect: false });
  hot.connect();
  return hot;
}

/** The packet of a send or emit: Nest 12 runs its dispatch hook (packet metadata) in createPacket; Nest 11 has none. */
function packetOf(client: object, pattern: unknown, data: unknown): ReadPacket {
  const create = (client as { createPacket?: (p: unknown, d: unknown) => ReadPacket }).createPacket;
  return typeof create === 'function' ? create.call(client, pattern, data) : { pattern, data };
}

/**
 * An event `emit()` could not send (e.g. NO_PEER: no connected server
 * handles its pattern). Nest's `emit()` is hot, so nobody may ever see its
 * error: it is counted (`getStats().dropped.unsentEvent`) and logged,
 * rate-limited with the other unsent events.
 */
function eventNotSent(monitor: TransportMonitor, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  monitor.drop('unsentEvent', message);
  monitor.warn(`Event not sent (${typeof code === 'string' ? code : 'error'}): ${printable(message)}`, 'unsent-event');
}
