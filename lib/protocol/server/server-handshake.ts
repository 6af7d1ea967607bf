import { randomBytes } from 'node:crypto';
import { printable } from '../../common/log-limiter.js';
import {
  ZmqAuthFailedError,
  ZmqErrorCode,
  ZmqHandshakeRefusedError,
  ZmqMessageTooLargeError,
  ZmqVersionMismatchError,
} from '../../errors/zmq.errors.js';
import type { Served } from './server-deps.js';
import type { ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../channel.js';
import { decodePayload } from '../codec.js';
import { DRAIN } from '../envelopes.js';
import { Envelope, MessageType, OutEnvelope } from '../frames.js';
import {
  BYE_ACK_FEATURE,
  challengeEnvelope,
  DRAIN_FEATURE,
  DEADLINE_FEATURE,
  handshakeEnvelope,
  hasFeature,
  Hello,
  peekForeignVersion,
  HeartbeatSettings,
  refusalEnvelope,
  validateHello,
  Welcome,
} from '../handshake.js';
import { CREDIT_FEATURE } from '../credit.js';
import { PROTOCOL_VERSION } from '../limits.js';
import { MAX_HELLO_BYTES, MAX_RETAINED_HELLO_BYTES, MAX_RETAINED_HELLO_BYTES_PER_KEY } from '../tuning.js';
import { MSGPACK_FEATURE } from '../msgpack.js';
import { codecFeatures, codecRefusal, PacketCodec } from '../packet-codec.js';
import { decideHello } from './hello-decision.js';
import type { ReplyEncoder } from './replies.js';
import { DownstreamSession, sessionEvent, SessionTable } from './sessions.js';

const NO_SESSION = 'The server has no session for this client: handshake first';
const TAKEN_OVER = 'A newer connection of this client (the same id and instance) took the session over';

/**
 * A CURVE server's check of a HELLO on the connection `connection`
 * (docs/PROTOCOL.md §12): the client's proven public key (`unbound`: by a
 * proof not bound to the connection, which a migrating server accepts), a
 * nonce to CHALLENGE the connection with, or why the HELLO is refused with
 * AUTH_FAILED.
 */
export type HelloAuthorizer = (
  hello: Hello,
  connection: string,
  now: number,
) =>
  | { readonly publicKey: string; readonly unbound?: boolean }
  | { readonly challenge: string; readonly publicKey: string }
  | { readonly refusal: string; readonly publicKey?: string };

/**
 * The features a server accepts (§4.4): `credit` when it has a `streamWindow`, `msgpack` with that codec,
 * `serializer` with a `deserializer`, `plain-replies` without a `serializer`.
 */
export function serverFeatures(config: {
  readonly msgpack?: boolean;
  readonly stream?: { window?: number };
  readonly serializers?: Readonly<PacketCodec> | undefined;
}): string[] {
  return [
    DEADLINE_FEATURE,
    BYE_ACK_FEATURE,
    DRAIN_FEATURE,
    ...(config.msgpack === true ? [MSGPACK_FEATURE] : []),
    ...(config.stream?.window !== undefined ? [CREDIT_FEATURE] : []),
    ...codecFeatures(config.serializers, 'server'),
  ];
}

/** What the handshake needs of its server. */
export interface HandshakeHost {
  readonly id: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly heartbeat: Readonly<HeartbeatSettings>;
  /** Features this server accepts when a HELLO offers them (docs/PROTOCOL.md §4.4). */
  readonly features: readonly string[];
  /** The window the WELCOME announces when the session takes `credit` (§6). */
  readonly window: number | undefined;
  readonly sessions: SessionTable;
  readonly replies: ReplyEncoder;
  readonly observer: SessionObserver;
  now(): number;
  /** Patterns of the message and event handlers, for the WELCOME. */
  served(): Served;
  sendRouted(routingId: Buffer, env: OutEnvelope): void;
  endSession(session: DownstreamSession, reason: ZmqPeerLeftReason): void;
  /** A CURVE server's HELLO check; none on a plaintext server. */
  readonly authorize?: HelloAuthorizer | undefined;
  /** Whether the server drains (§5.6): a client it welcomes now, on `key`, is told DRAIN and its answer awaited. */
  draining?(key: string): boolean;
}

/**
 * The server's side of the handshake (docs/PROTOCOL.md §4): validates a
 * HELLO, applies {@link decideHello}, answers WELCOME or a refusal.
 */
export class ServerHandshake {
  /** This server instance's token, sent in WELCOME (docs/PROTOCOL.md §4.2): a new one at each listen. */
  private instance = randomBytes(8).toString('hex');

  constructor(private readonly host: HandshakeHost) {}

  newInstance(): void {
    this.instance = randomBytes(8).toString('hex');
  }

  /**
   * The WELCOME this server sends now, accepting `features`; throws
   * `TOO_LARGE` when it cannot fit the handshake limit.
   */
  welcome(features: readonly string[] = this.host.features): OutEnvelope {
    const { id, metadata, heartbeat } = this.host;
    const welcome: Welcome = {
      version: PROTOCOL_VERSION,
      id,
      instance: this.instance,
      metadata: { ...metadata },
      heartbeat,
      ...this.host.served(),
      ...(features.length > 0 ? { features: [...features] } : {}),
      ...(features.includes(CREDIT_FEATURE) ? { window: this.host.window } : {}),
    };
    return handshakeEnvelope(MessageType.Welcome, welcome);
  }

  hello(routingId: Buffer, key: string, env: Envelope): void {
    if (this.overBudget(routingId, key, env.payload.length)) return;
    let hello: Hello | string;
    try {
      hello = validateHello(decodePayload(env.encoding, env.payload));
    } catch (err) {
      hello = err instanceof Error ? err.message : 'hello is not JSON';
    }
    if (typeof hello === 'string') {
      this.host.observer.drop('payload', hello);
      return this.refuse(routingId, `Invalid hello: ${hello}`);
    }
    if (hello.version !== PROTOCOL_VERSION) {
      this.host.observer.drop('version', `hello of version ${hello.version}`);
      return this.refuseVersion(routingId, hello.version, hello.id);
    }
    const codec = codecRefusal(hello.features, this.host.features);
    if (codec !== undefined) {
      this.host.observer.refused({
        peerId: hello.id,
        direction: 'downstream',
        error: new ZmqHandshakeRefusedError(codec),
      });
      return this.refuse(routingId, codec);
    }
    this.decide(routingId, key, hello, env.payload.length);
  }

  /**
   * A HELLO the server will not read (refused TOO_LARGE, undecoded): larger
   * than MAX_HELLO_BYTES, or more than the sessions' shared budget for
   * metadata (MAX_RETAINED_HELLO_BYTES) has left.
   */
  private overBudget(routingId: Buffer, key: string, bytes: number): boolean {
    const { sessions } = this.host;
    const freed = sessions.onConnection(key)?.helloBytes ?? 0;
    if (bytes > MAX_HELLO_BYTES) {
      this.refuseTooLarge(routingId, new ZmqMessageTooLargeError(bytes, MAX_HELLO_BYTES, 'A hello'));
    } else if (sessions.retainedHelloBytes - freed + bytes > MAX_RETAINED_HELLO_BYTES) {
      const held = sessions.retainedHelloBytes - freed;
      const context = `The server's sessions hold ${held} bytes of hellos; a hello`;
      this.refuseTooLarge(routingId, new ZmqMessageTooLargeError(bytes, MAX_RETAINED_HELLO_BYTES - held, context));
    } else return false;
    return true;
  }

  /**
   * A HELLO that would take the sessions of its proven key past their share
   * of the budget (MAX_RETAINED_HELLO_BYTES_PER_KEY): refused TOO_LARGE, so
   * one allowed key cannot keep the others out.
   */
  private overKeyBudget(routingId: Buffer, key: string, publicKey: string, bytes: number): boolean {
    const { sessions } = this.host;
    const onConnection = sessions.onConnection(key);
    const freed = onConnection?.publicKey === publicKey ? (onConnection.helloBytes ?? 0) : 0;
    const held = sessions.retainedHelloBytesOf(publicKey) - freed;
    if (held + bytes <= MAX_RETAINED_HELLO_BYTES_PER_KEY) return false;
    const context = `The sessions of key ${publicKey} hold ${held} bytes of hellos; a hello`;
    const error = new ZmqMessageTooLargeError(bytes, MAX_RETAINED_HELLO_BYTES_PER_KEY - held, context);
    this.refuseTooLarge(routingId, error, publicKey);
    return true;
  }

  /** Refuses a HELLO with TOO_LARGE (undecoded, or decoded within MAX_HELLO_BYTES); a rate-limited warning. */
  private refuseTooLarge(routingId: Buffer, error: ZmqMessageTooLargeError, publicKey?: string): void {
    const { observer } = this.host;
    observer.drop('oversized', error.message);
    observer.warn(`Refused a client: ${error.message}`, 'Refused oversized hellos');
    this.host.sendRouted(routingId, refusalEnvelope(error.code, error.message));
    observer.refused({ direction: 'downstream', ...(publicKey !== undefined ? { publicKey } : {}), error });
  }

  /** Anything but HELLO from a connection with no session (docs/PROTOCOL.md §4.5). */
  noSession(routingId: Buffer, env: Envelope): void {
    this.host.observer.drop('notReady', `message type ${env.type} before the handshake`);
    if (env.type === MessageType.Ping) {
      // A client that believes it has a session (this server timed it out, or restarted).
      this.host.sendRouted(routingId, refusalEnvelope(ZmqErrorCode.NOT_READY, NO_SESSION));
    } else if (env.type === MessageType.Request) {
      const err = { status: 'error', code: ZmqErrorCode.NOT_READY, message: NO_SESSION };
      this.host.sendRouted(routingId, this.host.replies.error(env.id, err));
    }
  }

  /**
   * A malformed envelope that is a HELLO (of this or another version): refused,
   * so the client learns why instead of timing out. False for anything else.
   */
  malformedHandshake(routingId: Buffer, err: Error, header: Buffer): boolean {
    const foreign = peekForeignVersion(header, MessageType.Hello);
    if (foreign !== undefined) this.refuseVersion(routingId, foreign, undefined);
    else if (header[1] === MessageType.Hello) this.refuse(routingId, `Invalid hello: ${err.message}`);
    else return false;
    return true;
  }

  refuseVersion(routingId: Buffer, version: number, peerId: string | undefined): void {
    const error = new ZmqVersionMismatchError(PROTOCOL_VERSION, version);
    this.host.observer.warn(
      `Refused client ${peerId === undefined ? '(unknown id)' : printable(peerId)}: it speaks protocol version ${version}; this server speaks ${PROTOCOL_VERSION}`,
      'Refused clients of another protocol version',
    );
    const message = `Protocol version ${version} is not supported; this server speaks ${PROTOCOL_VERSION}`;
    this.host.sendRouted(routingId, refusalEnvelope(error.code, message));
    this.host.observer.refused({ ...(peerId !== undefined ? { peerId } : {}), direction: 'downstream', error });
  }

  /**
   * The HELLO's proven CURVE key (`undefined` on a plaintext server), or
   * `null` when it was refused or challenged (§12.2: the HELLO that answers
   * the CHALLENGE decides; the connection's session, if any, is untouched).
   */
  private authorize(routingId: Buffer, key: string, hello: Hello): string | undefined | null {
    const verdict = this.host.authorize?.(hello, key, this.host.now());
    if (verdict === undefined) return undefined;
    if ('challenge' in verdict) {
      this.host.sendRouted(routingId, challengeEnvelope(verdict.challenge));
      return null;
    }
    if (!('refusal' in verdict)) {
      if (verdict.unbound === true) {
        this.host.observer.warn(
          `Accepted an unbound key proof from client ${printable(hello.id)} (${verdict.publicKey}): its hello can be replayed; upgrade that client`,
          'Accepted unbound key proofs',
        );
      }
      return verdict.publicKey;
    }
    const error = new ZmqAuthFailedError(`Refused: ${verdict.refusal}`);
    const { publicKey } = verdict;
    this.host.observer.warn(
      `Refused client ${printable(hello.id)}${publicKey === undefined ? '' : ` (${publicKey})`}: ${verdict.refusal}`,
      'Refused hellos',
    );
    this.host.sendRouted(routingId, refusalEnvelope(error.code, error.message));
    this.host.observer.refused({
      peerId: hello.id,
      direction: 'downstream',
      ...(publicKey !== undefined ? { publicKey } : {}),
      error,
    });
    return null;
  }

  private decide(routingId: Buffer, key: string, hello: Hello, helloBytes: number): void {
    const { sessions, observer } = this.host;
    const publicKey = this.authorize(routingId, key, hello);
    if (publicKey === null) return;
    if (publicKey !== undefined && this.overKeyBudget(routingId, key, publicKey, helloBytes)) return;
    let onConnection = sessions.onConnection(key);
    if (onConnection !== undefined && onConnection.publicKey !== publicKey) {
      // This connection now speaks as another key: its old session cannot go on under the new one.
      this.host.endSession(onConnection, 'disconnect');
      onConnection = undefined;
    }
    let decision = decideHello(hello, onConnection, sessions.ofClient(hello.id, publicKey));
    if (decision.kind === 'handover' && decision.previous.publicKey !== publicKey) {
      decision = { kind: 'impostor', holder: decision.previous }; // an instance token never moves to another key
    }
    // `credit` needs the client's window (§6): a HELLO that offers it without one does not get it.
    const accepted = this.host.features.filter(f => hasFeature(hello, f) && (f !== CREDIT_FEATURE || hello.window));
    switch (decision.kind) {
      case 'renew':
        // The session goes on; what the client sent before this HELLO it has already failed.
        for (const call of [...decision.session.calls.values()]) call.cancel();
        this.sendWelcome(routingId, undefined, accepted);
        return;
      case 'impostor': {
        const error = new ZmqHandshakeRefusedError(`A client with id "${hello.id}" is already connected`);
        observer.warn(
          `Refused a client claiming id ${printable(hello.id)}, which is already connected`,
          'Refused hellos of a connected id',
        );
        this.host.sendRouted(routingId, refusalEnvelope(error.code, error.message));
        return observer.refused({ peerId: hello.id, direction: 'downstream', error });
      }
      case 'handover':
        // ZeroMQ orders nothing across connections: the old one's BYE may still come. If that connection
        // is still alive after all, it is told, and stays refused: two live connections never flap.
        this.host.sendRouted(decision.previous.routingId, refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, TAKEN_OVER));
        this.host.endSession(decision.previous, 'disconnect');
        break;
    }
    if (decision.replaced !== undefined) this.host.endSession(decision.replaced, 'disconnect');
    const session: DownstreamSession = {
      key,
      routingId,
      id: hello.id,
      instance: hello.instance,
      metadata: hello.metadata,
      calls: new Map(),
      waiting: new Map(),
      lastSeen: this.host.now(),
      lastPing: this.host.now(),
      msgpack: accepted.includes(MSGPACK_FEATURE),
      byeAck: accepted.includes(BYE_ACK_FEATURE),
      publicKey,
      drain: accepted.includes(DRAIN_FEATURE),
      window: accepted.includes(CREDIT_FEATURE) ? hello.window : undefined,
      helloBytes,
    };
    if (this.sendWelcome(routingId, session, accepted)) observer.joined(sessionEvent(session));
  }

  /** WELCOME, and the session (if new) exists from here; false when the welcome could not be built. */
  private sendWelcome(routingId: Buffer, session: DownstreamSession | undefined, features: string[]): boolean {
    let welcome: OutEnvelope;
    try {
      welcome = this.welcome(features);
    } catch (err) {
      this.host.observer.error(`Cannot welcome a client: ${(err as Error).message}`, 'Failed welcomes');
      this.refuse(routingId, 'The server cannot build its welcome');
      return false;
    }
    if (session !== undefined) this.host.sessions.add(session);
    this.host.sendRouted(routingId, welcome);
    if (features.includes(DRAIN_FEATURE) && this.host.draining?.(routingId.toString('latin1')) === true)
      this.host.sendRouted(routingId, DRAIN);
    return true;
  }

  private refuse(routingId: Buffer, message: string): void {
    this.host.sendRouted(routingId, refusalEnvelope(ZmqErrorCode.HANDSHAKE_REFUSED, message));
  }
}
