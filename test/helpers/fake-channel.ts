/**
 * Fakes of what the session engines (lib/protocol/client, lib/protocol/server)
 * talk to instead of zeromq: a {@link Channel} that records what is sent and
 * lets the test deliver messages, factories for `ConnectChannel` and
 * `BindChannel`, a recording {@link SessionObserver} and a status recorder.
 *
 * Inbound messages are built with lib's own envelope constructors and header
 * encoder, so they are exactly what the transport would hand the engine.
 */
import { ZmqQueueFullError } from '../../lib/errors/zmq.errors';
import type { ZmqPeerEvent, ZmqPeerRefusedEvent, ZmqStatus } from '../../lib/interfaces/zmq-events.interface';
import type {
  BindChannel,
  Channel,
  ChannelHandlers,
  ConnectChannel,
  ConnectOptions,
  SessionObserver,
} from '../../lib/protocol/channel';
import { decodePayload } from '../../lib/protocol/codec';
import type { DropCounterKey } from '../../lib/protocol/drop-counter';
import { Encoding, encodeHeader, MessageType, Metadata, OutEnvelope } from '../../lib/protocol/frames';

/** The queue limit a fake reports in its QUEUE_FULL errors. */
export const FAKE_QUEUE_LIMIT = 8;

/** One envelope a fake channel was asked to send, decoded for assertions. */
export interface SentEnvelope {
  readonly env: OutEnvelope;
  /** The routing id it was addressed to (server side). */
  readonly destination: Buffer | undefined;
  readonly type: MessageType;
  readonly id: number;
  readonly flags: number;
  readonly encoding: Encoding;
  readonly pattern: string | undefined;
  readonly metadata: Metadata | undefined;
  /** The payload, decoded with lib's decodePayload. */
  readonly payload: unknown;
  /** The channel had been closed when this was sent. */
  readonly afterClose: boolean;
}

/** The payload frame of an envelope, as the transport would write it. */
export function payloadFrame(env: OutEnvelope): Buffer {
  return typeof env.payload === 'string' ? Buffer.from(env.payload, 'utf8') : env.payload;
}

/** Header and payload frames of envelopes, in order (one inbound message). */
export function framesOf(envs: readonly OutEnvelope[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const env of envs) frames.push(encodeHeader(env), payloadFrame(env));
  return frames;
}

/** The header and payload frames of one envelope, with byte 0 (the protocol version) set to `version`. */
export function foreignVersionFrames(env: OutEnvelope, version: number): Buffer[] {
  const header = encodeHeader(env);
  header[0] = version;
  return [header, payloadFrame(env)];
}

function decodeSent(env: OutEnvelope, destination: Buffer | undefined, afterClose: boolean): SentEnvelope {
  return {
    env,
    destination,
    type: env.type,
    id: env.id,
    flags: env.flags,
    encoding: env.encoding,
    pattern: env.pattern?.toString('utf8'),
    metadata: env.metadata === undefined ? undefined : (JSON.parse(env.metadata.toString('utf8')) as Metadata),
    payload: decodePayload(env.encoding, payloadFrame(env), env.id, true),
    afterClose,
  };
}

/**
 * A {@link Channel} that records every envelope sent (with its destination),
 * counts `close()` calls, reports whatever `queued` the test sets, throws
 * QUEUE_FULL while `full`, and delivers inbound messages to its handlers.
 */
export class FakeChannel implements Channel {
  readonly sent: SentEnvelope[] = [];
  readonly raw = { fake: true };
  /** What `queued` reports; the test sets it (the fake never queues for real). */
  queued = 0;
  /** While true, `send()` throws QUEUE_FULL and records nothing. */
  full = false;
  closeCount = 0;
  /** Envelopes refused while `full`. */
  refused = 0;
  private closed = false;

  constructor(
    readonly handlers: ChannelHandlers,
    /** The endpoint (client side) or the endpoints bound (server side). */
    readonly endpoints: readonly string[],
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  send(envelope: OutEnvelope, destination?: Buffer): void {
    if (this.full) {
      this.refused++;
      throw new ZmqQueueFullError(FAKE_QUEUE_LIMIT);
    }
    this.sent.push(decodeSent(envelope, destination, this.closed));
  }

  close(): Promise<void> {
    this.closeCount++;
    this.closed = true;
    return Promise.resolve();
  }

  /** Delivers envelopes as one message (a client's DEALER receives no routing id). */
  deliver(...envs: OutEnvelope[]): void {
    this.handlers.message(framesOf(envs));
  }

  /** Delivers envelopes as one message from the peer with `routingId` (a server's ROUTER). */
  deliverFrom(routingId: Buffer, ...envs: OutEnvelope[]): void {
    this.handlers.message([routingId, ...framesOf(envs)]);
  }

  /** Delivers raw frames as one message. */
  deliverFrames(frames: Buffer[]): void {
    this.handlers.message(frames);
  }

  /** The envelopes sent of one type (to one destination, when given). */
  of(type: MessageType, destination?: Buffer): SentEnvelope[] {
    return this.sent.filter(
      s => s.type === type && (destination === undefined || sameBytes(s.destination, destination)),
    );
  }

  count(type: MessageType, destination?: Buffer): number {
    return this.of(type, destination).length;
  }

  /** The envelopes sent to `destination`. */
  to(destination: Buffer): SentEnvelope[] {
    return this.sent.filter(s => sameBytes(s.destination, destination));
  }

  /** The last envelope sent; throws when none was. */
  last(): SentEnvelope {
    const env = this.sent[this.sent.length - 1];
    if (env === undefined) throw new Error('nothing was sent');
    return env;
  }

  /** The types sent since `from` (an index into `sent`). */
  typesSince(from: number): MessageType[] {
    return this.sent.slice(from).map(s => s.type);
  }
}

function sameBytes(a: Buffer | undefined, b: Buffer): boolean {
  return a !== undefined && a.equals(b);
}

/** A `ConnectChannel` handing out one {@link FakeChannel} per call (a client link). */
export class FakeConnector {
  readonly channels: FakeChannel[] = [];
  /** Errors the next `connect` to an endpoint throws (once each), e.g. a malformed endpoint. */
  readonly failures = new Map<string, Error>();
  /** The options each channel was opened with. */
  readonly options = new Map<FakeChannel, ConnectOptions | undefined>();

  readonly connect: ConnectChannel = (endpoint, handlers, options) => {
    const err = this.failures.get(endpoint);
    if (err !== undefined) {
      this.failures.delete(endpoint);
      throw err;
    }
    const channel = new FakeChannel(handlers, [endpoint]);
    this.channels.push(channel);
    this.options.set(channel, options);
    return channel;
  };

  /** The latest channel opened to `endpoint`. */
  channel(endpoint: string): FakeChannel {
    for (let i = this.channels.length - 1; i >= 0; i--) {
      const c = this.channels[i]!;
      if (c.endpoints[0] === endpoint) return c;
    }
    throw new Error(`no channel to ${endpoint}`);
  }
}

/** A `BindChannel` handing out one {@link FakeChannel}; `*` ports resolve to 5555. */
export class FakeBinder {
  readonly channels: FakeChannel[] = [];
  /** Rejects the next `bind` with this (then cleared), e.g. a BIND_FAILED. */
  failNext: Error | undefined;

  readonly bind: BindChannel = (endpoints, handlers) => {
    const err = this.failNext;
    if (err !== undefined) {
      this.failNext = undefined;
      return Promise.reject(err);
    }
    const bound = endpoints.map(e => e.replace(/:\*$/, ':5555'));
    const channel = new FakeChannel(handlers, bound);
    this.channels.push(channel);
    return Promise.resolve({ channel, endpoints: bound });
  };

  /** The latest channel bound; throws before the first bind. */
  get channel(): FakeChannel {
    const c = this.channels[this.channels.length - 1];
    if (c === undefined) throw new Error('not bound');
    return c;
  }
}

export interface RecordedDrop {
  readonly reason: DropCounterKey;
  readonly detail: string;
  readonly n: number;
}

/** A {@link SessionObserver} that records everything it is told. */
export class RecordingObserver implements SessionObserver {
  readonly joins: ZmqPeerEvent[] = [];
  readonly lefts: ZmqPeerEvent[] = [];
  readonly refusals: ZmqPeerRefusedEvent[] = [];
  readonly drops: RecordedDrop[] = [];
  readonly warnings: string[] = [];
  readonly errors: string[] = [];

  joined(event: ZmqPeerEvent): void {
    this.joins.push(event);
  }

  left(event: ZmqPeerEvent): void {
    this.lefts.push(event);
  }

  readonly drainings: ZmqPeerEvent[] = [];
  readonly healthChanges: Array<[string, 'ejected' | 'restored']> = [];

  health(event: ZmqPeerEvent, change: 'ejected' | 'restored'): void {
    this.healthChanges.push([event.peerId, change]);
  }

  draining(event: ZmqPeerEvent): void {
    this.drainings.push(event);
  }

  refused(event: ZmqPeerRefusedEvent): void {
    this.refusals.push(event);
  }

  /** `connect:refused` reports: [endpoint, attempts]. */
  readonly connectRefusals: Array<[string, number]> = [];

  connectRefused(endpoint: string, attempts: number): void {
    this.connectRefusals.push([endpoint, attempts]);
  }

  drop(reason: DropCounterKey, detail: string, n = 1): void {
    this.drops.push({ reason, detail, n });
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  error(message: string): void {
    this.errors.push(message);
  }

  /** Envelopes dropped for `reason`, summed. */
  dropped(reason: DropCounterKey): number {
    return this.drops.filter(d => d.reason === reason).reduce((sum, d) => sum + d.n, 0);
  }

  /** Drop counts by reason (only the reasons seen). */
  dropCounts(): Partial<Record<DropCounterKey, number>> {
    const out: Partial<Record<DropCounterKey, number>> = {};
    for (const d of this.drops) out[d.reason] = (out[d.reason] ?? 0) + d.n;
    return out;
  }
}

/** Records every status an engine reports, in order. */
export class StatusRecorder {
  readonly values: ZmqStatus[] = [];
  readonly push = (status: ZmqStatus): void => {
    this.values.push(status);
  };
}
