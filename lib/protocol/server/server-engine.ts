import type { ZmqAdmissionStats, ZmqPeerInfo, ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import type { Channel, ChannelHandlers, SendFailure, SessionObserver } from '../channel.js';
import { ZmqErrorCode, ZmqSendTimeoutError } from '../../errors/zmq.errors.js';
import { DEFAULT_ADMISSION } from '../../defaults.js';
import { Clock, monotonicClock, realScheduler, Scheduler } from '../clock.js';
import { BYE, PING, PONG } from '../envelopes.js';
import { incomingData } from '../packet-codec.js';
import { Envelope, Flag, MalformedError, MessageType, OutEnvelope } from '../frames.js';
import { OutboxSettings, realYield } from '../stream-outbox.js';
import { queuedCost } from '../chunk-queue.js';
import { holdsBye, InboundDecoder, InboundHandler } from '../inbound.js';
import { BYE_ACK_WAIT_MS } from '../tuning.js';
import { Heartbeat } from '../liveness.js';
import { Metrics } from '../metrics.js';
import { Admission, processCpuTime, ShedReason, Waiting } from './admission.js';
import { AwaitedByes, sayByeToAll } from './awaited-byes.js';
import { DeadlineWatch } from './deadlines.js';
import { DrainWait } from './drain.js';
import { malformedRequest, ReplyEncoder, undecodableRequest } from './replies.js';
import { CallOutput, streamSettingsOf } from './call-output.js';
import { ServerCall } from './server-call.js';
import { unhandledEvent } from './unhandled.js';
import type { Origin, ServerEngineConfig, ServerEngineDeps, ServerHost } from './server-deps.js';
import { serverFeatures, ServerHandshake } from './server-handshake.js';
import { DownstreamSession, sessionEvent, SessionTable } from './sessions.js';

/** A server that binds a channel: listening, or draining before it closes. */
interface OpenState {
  readonly channel: Channel;
  readonly endpoints: readonly string[];
}

/**
 * The server's lifecycle (docs/PROTOCOL.md §11.2): `idle` (not listening),
 * `binding`, `listening` on a channel, `draining` (DRAIN sent, the calls in
 * progress finishing, nothing refused), `closing` (BYE sent, the channel flushing).
 */
export type ServerState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'binding' }
  | ({ readonly kind: 'listening' } & OpenState)
  | ({
      readonly kind: 'draining';
      /** Ends when the last call in progress does, or at `drainTimeout`. */
      readonly drain: DrainWait;
    } & OpenState)
  | {
      readonly kind: 'closing';
      /** The clients (`bye-ack`) whose answering BYE the server still waits for. */
      readonly byes: AwaitedByes;
    };

/** The channel of a server that still serves (listening or draining), else `undefined`. */
export function openChannel(state: ServerState): Channel | undefined {
  return state.kind === 'listening' || state.kind === 'draining' ? state.channel : undefined;
}

const NO_CREDIT = 'A request stream needs the credit feature, which this session did not agree on';
const NO_MESSAGE_HANDLER = 'There is no matching message handler defined in the remote service.';

/**
 * The server side of the session protocol, with no Nest and no zeromq in it:
 * the sessions of its clients, the handshake, dispatch of requests, events
 * and cancels, liveness and close. `ServerZmq` is the Nest surface over it.
 */
export class ServerEngine<H> implements InboundHandler<Origin>, CallOutput {
  readonly sessions = new SessionTable();
  /** How replies are encoded (CallOutput). */
  readonly replies: ReplyEncoder;
  /** The callers' deadlines of the calls in progress (CallOutput). */
  readonly deadlines: DeadlineWatch<ServerCall>;
  readonly queueLimit: number;
  readonly metrics: Metrics;
  readonly streamSettings: (session: DownstreamSession) => OutboxSettings;
  private readonly config: ServerEngineConfig;
  private readonly host: ServerHost<H>;
  readonly observer: SessionObserver;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly liveness: Heartbeat<DownstreamSession>;
  private readonly decoder: InboundDecoder<Origin>;
  private readonly handshake: ServerHandshake;
  /** Admission control: the per-peer call budget and the overload queue. */
  readonly admission: Admission;
  private current: ServerState = { kind: 'idle' };
  private readonly origin: Origin = { routingId: Buffer.alloc(0), key: '' };
  /** The bind in progress, so that a close() during listen() waits for it instead of being lost. */
  private binding: Promise<unknown> | undefined;
  private closing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ServerEngineDeps<H>) {
    this.config = deps.config;
    this.host = deps.host;
    this.observer = deps.observer;
    this.replies = new ReplyEncoder(this.config.maxPayload, deps.serializers?.serializer, (id, err) =>
      this.observer.error(`A reply to request ${id} could not be sent: ${err.message}`),
    );
    this.clock = deps.clock ?? monotonicClock;
    this.queueLimit = this.config.socket?.queueLimit ?? 0;
    this.streamSettings = streamSettingsOf(this.config, this.queueLimit, deps.yieldTo);
    const scheduler = (this.scheduler = deps.scheduler ?? realScheduler);
    // The caller stopped waiting and its CANCEL did not come (it died, or the network did): stop the work.
    this.deadlines = new DeadlineWatch<ServerCall>(call => call.cancel('timeout'), this.clock, scheduler);
    this.metrics = deps.metrics ?? new Metrics(this.clock, true, false);
    const peers = () => this.sessions.values();
    this.liveness = new Heartbeat<DownstreamSession>(
      this.config.heartbeat,
      { peers, ping: session => this.send(session, PING), dead: session => this.endSession(session, 'timeout') },
      this.clock,
      scheduler,
    );
    this.decoder = new InboundDecoder(1, this.config.maxPayload, this);
    this.admission = new Admission(
      this.config.admission ?? DEFAULT_ADMISSION,
      {
        start: (session, env, waited) => this.startRequest(session, env, waited),
        shed: (waiting, reason) => this.shed(waiting, reason),
        forgotten: waiting => void this.takeHeld(waiting.session, waiting.env.id),
      },
      this.clock,
      deps.yieldTo ?? realYield,
      deps.clock === undefined ? processCpuTime : undefined, // a test's clock alone measures its turns
    );
    const { id, metadata, heartbeat } = this.config;
    this.handshake = new ServerHandshake({
      id,
      metadata,
      heartbeat,
      features: serverFeatures({ ...this.config, serializers: deps.serializers }),
      window: this.config.stream?.window,
      sessions: this.sessions,
      replies: this.replies,
      observer: this.observer,
      now: () => this.clock.now(),
      served: () => this.host.served(),
      sendRouted: (routingId, env) => this.sendRouted(routingId, env),
      endSession: (session, reason) => this.endSession(session, reason),
      authorize: deps.authorize,
      draining: key => this.current.kind === 'draining' && this.current.drain.awaitAnswer(key),
    });
  }

  get state(): ServerState {
    return this.current;
  }

  /** The endpoints bound, `*` ports resolved; empty unless listening. */
  get endpoints(): string[] {
    return this.current.kind === 'listening' ? [...this.current.endpoints] : [];
  }

  /** Binds every endpoint; rejects with `BIND_FAILED` (or `TOO_LARGE` for a welcome that cannot fit). */
  async listen(): Promise<void> {
    if (this.current.kind !== 'idle') throw new Error('ServerZmq is already listening');
    this.handshake.newInstance();
    this.handshake.welcome(); // fail now, not at the first HELLO
    this.current = { kind: 'binding' };
    const handlers: ChannelHandlers = {
      message: frames => this.receive(frames),
      sendFailed: (failure, envs, to) => this.sendFailed(failure, envs, to),
      receiveError: err => this.observer.error(`Receive loop error: ${String(err)}`),
      disconnected: routingId => this.disconnected(routingId.toString('latin1')),
    };
    const binding = this.deps.bind(this.config.endpoints, handlers);
    this.binding = binding;
    try {
      const { channel, endpoints } = await binding;
      this.current = { kind: 'listening', channel, endpoints };
    } catch (err) {
      this.current = { kind: 'idle' };
      throw err;
    } finally {
      this.binding = undefined;
    }
    this.liveness.start();
  }

  /** Drains (§5.6, up to `drainTimeout`), says BYE and ends every call, awaits the answering BYEs (§10), closes. */
  async close(): Promise<void> {
    if (this.current.kind === 'binding') await this.binding?.catch(() => undefined);
    if (this.current.kind !== 'listening') return this.closing;
    return (this.closing = this.drainAndClose(this.current.channel, this.current.endpoints));
  }

  private async drainAndClose(channel: Channel, endpoints: readonly string[]): Promise<void> {
    const drain = DrainWait.tell(this.sessions, this.send.bind(this));
    this.current = { kind: 'draining', channel, endpoints, drain };
    await drain.wait(this.scheduler, this.config.drainTimeout ?? 0);
    this.liveness.stop();
    const byes = sayByeToAll(this.sessions.values(), this.send.bind(this), s => this.endSession(s, 'bye'));
    this.current = { kind: 'closing', byes };
    await byes.wait(this.scheduler, BYE_ACK_WAIT_MS);
    await channel.close();
    this.current = { kind: 'idle' };
  }

  peers(): ZmqPeerInfo[] {
    return this.sessions.peers();
  }

  stats(): { peers: number; inFlight: number; queued: number } {
    const queued = openChannel(this.current)?.queued ?? 0;
    return { peers: this.sessions.size, inFlight: this.sessions.inFlight(), queued };
  }

  /** What admission control did so far and where it stands (`getStats().admission`). */
  admissionStats(): ZmqAdmissionStats {
    const { shedCounts } = this.admission;
    return {
      state: this.admission.current.kind,
      waiting: this.admission.waiting,
      shed: shedCounts['peer-limit'] + shedCounts['queue-age'] + shedCounts['queue-full'],
      shedByReason: { ...shedCounts },
      abandoned: this.admission.abandoned,
      cancelled: this.admission.cancelled,
      turnBudget: this.admission.turnBudget,
      turnSliceMs: this.admission.turnSlice,
      oldestWaitMs: this.admission.oldestWait,
    };
  }

  /** The native socket while listening. */
  get raw(): unknown {
    return openChannel(this.current)?.raw;
  }

  /** One message from the channel: a routing id, then header/payload pairs. */
  receive(frames: Buffer[]): void {
    const routingId = frames[0];
    if (this.current.kind === 'closing' && routingId !== undefined) return this.receiveClosing(routingId, frames);
    if (openChannel(this.current) === undefined) return;
    if (routingId === undefined) return this.observer.drop('frameCount', 'empty message');
    const key = routingId.toString('latin1');
    const sender = this.sessions.onConnection(key);
    if (sender !== undefined) sender.lastSeen = this.clock.now();
    this.origin.routingId = routingId;
    this.origin.key = key;
    this.decoder.read(this.origin, frames);
  }

  envelope(from: Origin, env: Envelope): boolean {
    const session = this.sessions.onConnection(from.key);
    if (env.type === MessageType.Hello) this.handshake.hello(from.routingId, from.key, env);
    else if (session === undefined) this.handshake.noSession(from.routingId, env);
    else this.dispatch(session, env);
    return openChannel(this.current) !== undefined;
  }

  /** A call or session ended (CallOutput): a draining server may be waiting for its last. */
  ended(): void {
    if (this.current.kind === 'draining') this.current.drain.changed();
  }

  malformed(from: Origin, err: MalformedError, header: Buffer): void {
    if (!this.handshake.malformedHandshake(from.routingId, err, header)) {
      const request = err.id !== 0 && header[1] === MessageType.Request && this.sessions.onConnection(from.key);
      if (request)
        this.sendRouted(from.routingId, this.replies.error(err.id, malformedRequest(err.message, err.reason)));
    }
    this.observer.drop(err.reason, err.message);
  }

  badFrameCount(_from: Origin, frames: number): void {
    this.observer.drop('frameCount', `wrong frame count (${frames})`);
  }

  /** Sends to a session's client; a full queue is counted, never thrown (CallOutput). */
  send(session: DownstreamSession, env: OutEnvelope, final = false): boolean {
    return this.sendRouted(session.routingId, env, final);
  }

  /** A client's connection ended: its session ends at once (`disconnect`); a closing server stops waiting for it. */
  disconnected(key: string): void {
    const session = this.sessions.onConnection(key);
    if (session !== undefined) this.endSession(session, 'disconnect');
    if (this.current.kind === 'closing') this.current.byes.answered(key);
  }

  /** While closing, only the answering BYEs of the clients still awaited count. */
  private receiveClosing(routingId: Buffer, frames: Buffer[]): void {
    if (this.current.kind === 'closing' && holdsBye(frames, 1))
      this.current.byes.answered(routingId.toString('latin1'));
  }

  /** Ends a session: its calls are cancelled (their teardown runs) and `peer:left` is told. */
  endSession(session: DownstreamSession, reason: ZmqPeerLeftReason): void {
    if (!this.sessions.remove(session)) return;
    for (const waiting of [...session.waiting.values()]) this.admission.forget(waiting);
    for (const call of [...session.calls.values()]) call.cancel('cancel', reason);
    this.observer.left(sessionEvent(session, reason));
    this.ended();
  }

  private dispatch(session: DownstreamSession, env: Envelope): void {
    switch (env.type) {
      case MessageType.Request:
        return this.onRequest(session, env);
      case MessageType.Event:
        return this.onEvent(session, env);
      case MessageType.Cancel:
        return this.onCancel(session, env.id);
      case MessageType.Credit: // §6; and a request stream's CHUNK and END (§6.1)
      case MessageType.Chunk:
      case MessageType.End: {
        if (session.calls.get(env.id)?.streamed(env) === true) return;
        const waiting = session.waiting.get(env.id);
        if (waiting !== undefined) return this.hold(waiting, env);
        return this.observer.drop('lateReply', `no stream ${env.id}`);
      }
      case MessageType.Ping:
        return void this.send(session, PONG);
      case MessageType.Drain: // the client's answer (§5.6)
        return this.drainAnswered(session);
      case MessageType.Bye:
        // Answer it (`bye-ack`): the client may be waiting for that before it closes and exits.
        if (session.byeAck) this.send(session, BYE);
        return this.endSession(session, 'bye');
      default:
        // A PONG is only a sign of life, counted when the message arrived.
        if (env.type !== MessageType.Pong) this.observer.drop('unexpected', `message type ${env.type} from a client`);
    }
  }

  /**
   * A CHUNK or END of a request stream whose REQUEST waits in the admission
   * queue: held, in order, and given to the call when it starts (§6.1). What
   * is held keeps to the stream's credit and buffer limits, the peer's byte
   * budget included; past them the request is refused as its stream would be
   * failed. Anything else for a waiting request is not the client's to send.
   */
  private hold(waiting: Waiting, env: Envelope): void {
    const { session } = waiting;
    if (env.type === MessageType.Credit || !(waiting.env.flags & Flag.Stream))
      return this.observer.drop('unexpected', `message type ${env.type} for request ${env.id}, not started yet`);
    const held = session.held?.get(env.id) ?? { envs: [], chunks: 0, bytes: 0 };
    const cost = env.type === MessageType.Chunk ? queuedCost(env.payload) : 0;
    const chunks = held.chunks + (env.type === MessageType.Chunk ? 1 : 0);
    const { limitBytes, shared } = this.streamSettings(session);
    const overCredit = chunks > (this.config.stream?.window ?? 1);
    if (overCredit || held.bytes + cost > limitBytes || (shared !== undefined && shared.used + cost > shared.limit)) {
      this.admission.forget(waiting);
      const message = 'The request stream went beyond its credit or its buffer limits';
      const err = { status: 'error', code: ZmqErrorCode.MALFORMED, message };
      return void this.send(session, this.replies.error(env.id, err), true);
    }
    held.envs.push(env);
    held.chunks = chunks;
    held.bytes += cost;
    if (shared !== undefined) shared.used += cost;
    (session.held ??= new Map()).set(env.id, held);
  }

  /** What request `id`'s stream sent while it waited, taken off the session and the peer's byte budget. */
  private takeHeld(session: DownstreamSession, id: number): Envelope[] | undefined {
    const held = session.held?.get(id);
    if (held === undefined) return undefined;
    session.held!.delete(id);
    if (session.buffered !== undefined) session.buffered.used -= held.bytes;
    return held.envs;
  }

  /** A CANCEL: a waiting request never starts, a running call stops. */
  private onCancel(session: DownstreamSession, id: number): void {
    const waiting = session.waiting.get(id);
    if (waiting !== undefined) return this.admission.cancel(waiting);
    session.calls.get(id)?.cancel();
  }

  private drainAnswered(session: DownstreamSession): void {
    if (this.current.kind === 'draining') return this.current.drain.answered(session.key);
    this.observer.drop('unexpected', 'DRAIN from a client while not draining');
  }

  /**
   * A REQUEST from a session (docs/PROTOCOL.md §5.1): a duplicate id is
   * dropped; a request stream on a session without `credit` is answered
   * STREAM_UNSUPPORTED and an unknown pattern NO_HANDLER, at once and
   * undecoded; anything else goes to admission control (§8.1).
   */
  private onRequest(session: DownstreamSession, env: Envelope): void {
    if (session.calls.has(env.id) || session.waiting.has(env.id))
      return this.observer.drop('unexpected', `duplicate request id ${env.id}`);
    if (env.flags & Flag.Stream && session.window === undefined) {
      // A request stream needs `credit` (§6.1): answered, never run, so the caller does not wait in vain.
      this.observer.drop('unexpected', `request stream ${env.id} on a session without credit`);
      const err = { status: 'error', code: ZmqErrorCode.STREAM_UNSUPPORTED, message: NO_CREDIT };
      return void this.send(session, this.replies.error(env.id, err), true);
    }
    if (this.host.requestHandler(env.pattern!) === null) {
      this.metrics.unhandled('request');
      const message = `${NO_MESSAGE_HANDLER} Pattern: ${env.pattern!}`;
      const err = { status: 'error', code: ZmqErrorCode.NO_HANDLER, message, pattern: env.pattern };
      return void this.send(session, this.replies.error(env.id, err), true);
    }
    this.admission.admit(session, env);
  }

  /**
   * A request admitted now or after its wait (`waited` ms, taken off the
   * caller's deadline): never run once that deadline passed (§8.1); data that
   * does not decode is answered MALFORMED; else a {@link ServerCall} runs the
   * handler, its deadline watched and, with flag STREAM, its data an
   * Observable of the caller's CHUNKs (§6.1).
   */
  private startRequest(session: DownstreamSession, env: Envelope, waited: number): void {
    const held = this.takeHeld(session, env.id);
    if (env.deadline !== undefined && waited >= env.deadline) {
      this.admission.abandoned++;
      return;
    }
    const handler = this.host.requestHandler(env.pattern!);
    if (handler === null) return; // the handler went while the request waited: answered as unknown above
    let data: unknown;
    try {
      data = this.dataOf(env, session);
    } catch (err) {
      this.observer.drop('payload', (err as Error).message);
      return void this.send(session, this.replies.error(env.id, undecodableRequest(err)), true);
    }
    const remaining = env.deadline === undefined ? undefined : env.deadline - waited;
    const deadline = remaining === undefined ? undefined : Date.now() + remaining;
    const call = new ServerCall(env.id, env.pattern!, session, this, deadline);
    session.calls.set(call.id, call);
    if (remaining !== undefined) this.deadlines.watch(call, remaining);
    const payload = env.flags & Flag.Stream ? call.openUpload(this.config.stream?.window ?? 1) : data;
    if (held !== undefined) for (const early of held) call.streamed(early);
    this.host.runRequest(call, handler, payload, env.metadata);
  }

  /**
   * A write to one client failed (docs/PROTOCOL.md §5.1): the envelopes are
   * counted (heartbeat PINGs carry nothing and are not drops); an unroutable
   * client's session ends (`disconnected`); otherwise (the client did not read
   * within `sendTimeout`) every call that lost an envelope ends now with
   * ERROR `SEND_TIMEOUT` instead of going on with a gap: its producer is torn
   * down, and the caller gets the error if it reads again.
   */
  private sendFailed(failure: SendFailure, envs: readonly OutEnvelope[], destination: Buffer | undefined): void {
    let lost = 0;
    for (const env of envs) if (env.type !== MessageType.Ping) lost++;
    const reason = failure === 'unroutable' ? 'unroutable' : 'sendFailed';
    if (lost > 0) this.observer.drop(reason, `${lost} envelope(s) (${failure})`, lost);
    if (destination === undefined) return;
    const key = destination.toString('latin1');
    if (failure === 'unroutable') return this.disconnected(key);
    const session = this.sessions.onConnection(key);
    if (session === undefined) return;
    const sendTimeout = this.config.socket?.sendTimeout ?? 0;
    for (const env of envs) {
      if (env.id !== 0) session.calls.get(env.id)?.failed(new ZmqSendTimeoutError(sendTimeout));
    }
  }

  /**
   * Ends every session of the client with this CURVE public key
   * (docs/PROTOCOL.md §12, S-30): BYE, its calls cancelled, `peer:left`
   * (`disconnect`). Returns how many ended.
   */
  endSessionsOfKey(publicKey: string): number {
    const ended = [...this.sessions.values()].filter(s => s.publicKey === publicKey);
    for (const session of ended) {
      this.send(session, BYE, true);
      this.endSession(session, 'disconnect');
    }
    return ended.length;
  }

  /** A request refused OVERLOADED (nothing ran): the caller hears at once. */
  private shed(waiting: Waiting, reason: ShedReason): void {
    const { session, env } = waiting;
    const message =
      reason === 'peer-limit'
        ? `this client has ${session.calls.size + session.waiting.size} calls in progress or waiting (maxCallsPerPeer)`
        : reason === 'queue-full'
          ? 'the admission queue is full'
          : 'the request waited too long in an overloaded server';
    this.send(session, this.replies.error(env.id, { status: 'error', code: ZmqErrorCode.OVERLOADED, message }), true);
  }

  private onEvent(session: DownstreamSession, env: Envelope): void {
    if (this.host.servesEvent?.(env.pattern!) === false) return unhandledEvent(this, env);
    let data: unknown;
    try {
      data = this.dataOf(env, session);
    } catch (err) {
      return this.observer.drop('payload', (err as Error).message);
    }
    this.host.runEvent(env.pattern!, data, session.id, env.metadata, session.publicKey);
  }

  /** A request's, event's or request stream value's data (CallOutput); a stream's REQUEST carries none. */
  dataOf(env: Envelope, session: DownstreamSession): unknown {
    if (env.flags & Flag.Stream) return undefined;
    return incomingData(env, this.deps.serializers?.deserializer, session.msgpack);
  }

  /** Queues an envelope; false (counted) when the queue is full. */
  private sendRouted(routingId: Buffer, env: OutEnvelope, final = false): boolean {
    const channel = openChannel(this.current);
    if (channel === undefined) return false;
    try {
      channel.send(env, routingId, final);
      return true;
    } catch (err) {
      this.observer.drop('sendFailed', (err as Error).message);
      return false;
    }
  }
}
