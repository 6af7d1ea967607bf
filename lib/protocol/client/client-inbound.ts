import {
  ZmqError,
  ZmqErrorCode,
  ZmqAuthFailedError,
  ZmqHandshakeRefusedError,
  ZmqOverloadedError,
  ZmqProtocolError,
  ZmqVersionMismatchError,
} from '../../errors/zmq.errors.js';
import type { ZmqPeerLeftReason } from '../../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../channel.js';
import { decodePayload } from '../codec.js';
import { BYE, controlEnvelope, PONG } from '../envelopes.js';
import { Envelope, Flag, MalformedError, MessageType } from '../frames.js';
import {
  asRefusal,
  type Challenge,
  peekForeignVersion,
  validateChallenge,
  validateWelcome,
  Welcome,
} from '../handshake.js';
import type { InboundHandler } from '../inbound.js';
import { creditEnvelope, grantOf } from '../credit.js';
import { GrantCounter } from '../credit.js';
import { deserializeWith, field, PacketCodec, PacketDeserializer, replyPacket } from '../packet-codec.js';
import { PROTOCOL_VERSION } from '../limits.js';
import type { CallRegistry, PendingCall } from './calls.js';
import type { UpstreamLink } from './upstream-link.js';

/** The session transitions an inbound envelope can cause (the engine carries them out). */
export interface LinkSessions {
  welcomed(link: UpstreamLink, welcome: Welcome): void;
  refused(link: UpstreamLink, error: ZmqError, peerId?: string): void;
  sessionEnded(link: UpstreamLink, reason: ZmqPeerLeftReason): void;
  /** The server said DRAIN (§5.6). */
  draining(link: UpstreamLink): void;
}

/**
 * What a client does with each envelope a server sends (docs/PROTOCOL.md
 * §5, §9 and the client table of §11): replies go to their calls, handshake
 * answers to the link's session.
 */
export class ClientInbound implements InboundHandler<UpstreamLink> {
  constructor(
    private readonly sessions: LinkSessions,
    private readonly calls: CallRegistry,
    private readonly observer: SessionObserver,
    /** The user's `deserializer`: every CHUNK and ERROR payload goes through it. */
    serializers?: PacketCodec,
    /** This client's `streamWindow` (undefined: it offered no credit). */
    private readonly window?: number,
  ) {
    this.deserializer = serializers?.deserializer;
  }

  /** The user's `deserializer`: every CHUNK and ERROR payload goes through it. */
  private readonly deserializer: PacketDeserializer | undefined;

  envelope(link: UpstreamLink, env: Envelope): void {
    switch (env.type) {
      case MessageType.Chunk:
        return this.onChunk(link, env);
      case MessageType.End:
        return this.onEnd(link, env);
      case MessageType.Error:
        return env.id === 0 ? this.onConnectionError(link, env) : this.onError(link, env);
      case MessageType.Welcome:
        return this.onWelcome(link, env);
      case MessageType.Credit:
        return this.onCredit(link, env);
      case MessageType.Ping:
        link.trySend(PONG);
        return;
      case MessageType.Pong:
        return link.pongs.ponged();
      case MessageType.Bye:
        // Answer it (`bye-ack`): the server may be waiting for that before it closes and exits.
        if (link.byeAck) link.trySend(BYE);
        return this.sessions.sessionEnded(link, 'bye');
      case MessageType.Drain:
        return this.sessions.draining(link);
      case MessageType.Challenge:
        return this.onChallenge(link, env);
      default:
        this.observer.drop('unexpected', `message type ${env.type} from a server`);
    }
  }

  malformed(link: UpstreamLink, err: MalformedError, header: Buffer): void {
    const foreign = peekForeignVersion(header, MessageType.Error);
    if (foreign !== undefined && !link.isReady) {
      this.observer.error(
        `Server ${link.endpoint} speaks protocol version ${foreign}; this client speaks ${PROTOCOL_VERSION}`,
      );
      this.sessions.refused(link, new ZmqVersionMismatchError(PROTOCOL_VERSION, foreign));
    }
    this.observer.drop(err.reason, err.message);
    // A reply that cannot be read is never silent: fail the call it belongs to.
    if (err.id !== 0 && this.callOn(link, err.id) !== undefined) {
      this.calls.fail(err.id, new ZmqProtocolError(`Malformed reply: ${err.message}`));
    }
  }

  /** A CURVE server's nonce for this link's key proof (§12.2): answered at once while handshaking, else dropped. */
  private onChallenge(link: UpstreamLink, env: Envelope): void {
    let challenge: Challenge | string;
    try {
      challenge = validateChallenge(decodePayload(env.encoding, env.payload));
    } catch (err) {
      challenge = (err as Error).message;
    }
    if (typeof challenge === 'string') return this.observer.drop('payload', `challenge: ${challenge}`);
    if (!link.challenged(challenge.nonce)) {
      this.observer.drop('unexpected', `a challenge from ${link.endpoint} while ${link.state.kind}`);
    }
  }

  badFrameCount(_link: UpstreamLink, frames: number): void {
    this.observer.drop('frameCount', `wrong frame count (${frames})`);
  }

  /** The call `id` if it is in flight on `link`: replies are scoped to their connection. */
  private callOn(link: UpstreamLink, id: number): PendingCall | undefined {
    const call = this.calls.get(id);
    return call !== undefined && call.link === link ? call : undefined;
  }

  private onChunk(link: UpstreamLink, env: Envelope): void {
    const call = this.callOn(link, env.id);
    if (call === undefined) return this.observer.drop('lateReply', `chunk of unknown request ${env.id}`);
    this.calls.chunk(call);
    let response: unknown;
    let remoteErr: unknown;
    try {
      response = decodePayload(env.encoding, env.payload, env.id, link.msgpack);
      if (this.deserializer !== undefined) {
        ({ response, err: remoteErr } = replyPacket(this.deserializer, response));
      }
    } catch (err) {
      // A gap in a stream is never silent: fail the call and stop the server.
      link.trySend(controlEnvelope(MessageType.Cancel, env.id));
      this.observer.drop('payload', (err as Error).message);
      this.calls.fail(
        env.id,
        err instanceof ZmqError ? err : new ZmqProtocolError(`Undecodable reply: ${(err as Error).message}`),
      );
      return;
    }
    if (remoteErr !== undefined && remoteErr !== null) {
      // The user's deserializer says this chunk carries an error.
      link.trySend(controlEnvelope(MessageType.Cancel, env.id));
      this.calls.fail(env.id, remoteErr);
    } else if (env.flags & Flag.End) {
      this.calls.settle(env.id);
      this.calls.deliver(call, { response, isDisposed: true });
    } else {
      this.calls.touch(env.id);
      this.calls.deliver(call, { response });
      this.taken(link, call);
    }
  }

  /** The subscriber took a value of a stream under credit: grant per half window (§6). */
  private taken(link: UpstreamLink, call: PendingCall): void {
    if (this.window === undefined || link.window === undefined || this.calls.get(call.id) !== call) return;
    const grant = (call.grants ??= new GrantCounter(this.window)).take();
    if (grant > 0) link.trySend(creditEnvelope(call.id, grant), true);
  }

  /** The server granted credit to a request stream (§6.1). */
  private onCredit(link: UpstreamLink, env: Envelope): void {
    const call = this.callOn(link, env.id);
    if (call === undefined) return this.observer.drop('lateReply', `credit of unknown request ${env.id}`);
    call.upload?.grant(grantOf(env.payload));
  }

  private onEnd(link: UpstreamLink, env: Envelope): void {
    const call = this.callOn(link, env.id);
    if (call === undefined) return this.observer.drop('lateReply', `end of unknown request ${env.id}`);
    this.calls.settle(env.id);
    this.calls.deliver(call, { isDisposed: true });
  }

  private onError(link: UpstreamLink, env: Envelope): void {
    const call = this.callOn(link, env.id);
    if (call === undefined) {
      return this.observer.drop('lateReply', `error of unknown request ${env.id}`);
    }
    let err: unknown;
    try {
      err = decodePayload(env.encoding, env.payload, env.id, link.msgpack);
      if (this.deserializer !== undefined) {
        const packet = deserializeWith(this.deserializer, err);
        err = field(packet, 'err') ?? field(packet, 'response') ?? packet;
      }
    } catch (e) {
      err = e instanceof ZmqError ? e : new ZmqProtocolError(`Undecodable error reply: ${(e as Error).message}`);
    }
    if ((err as { code?: unknown } | null)?.code === ZmqErrorCode.NOT_READY && link.isReady) {
      // The server has no session for us (it timed us out, or restarted):
      // every call on this link is lost, this one included.
      return this.sessions.sessionEnded(link, 'disconnect');
    }
    if ((err as { code?: unknown } | null)?.code === ZmqErrorCode.OVERLOADED) {
      const message = (err as { message?: unknown }).message;
      err = new ZmqOverloadedError(call.pattern, 'server', typeof message === 'string' ? message : undefined);
    }
    this.calls.fail(env.id, err);
  }

  private onConnectionError(link: UpstreamLink, env: Envelope): void {
    let refusal;
    try {
      refusal = asRefusal(decodePayload(env.encoding, env.payload));
    } catch {
      refusal = undefined;
    }
    if (refusal === undefined) return this.observer.drop('payload', 'undecodable connection error');
    if (refusal.code === ZmqErrorCode.NOT_READY) {
      // Before the handshake completed, NOT_READY says nothing new (§4.5).
      if (link.isReady) this.sessions.sessionEnded(link, 'disconnect');
      return;
    }
    const err =
      refusal.code === ZmqErrorCode.VERSION_MISMATCH
        ? new ZmqVersionMismatchError(PROTOCOL_VERSION, refusal.version)
        : refusal.code === ZmqErrorCode.AUTH_FAILED
          ? new ZmqAuthFailedError(`Server ${link.endpoint}: ${refusal.message}`, link.endpoint)
          : new ZmqHandshakeRefusedError(refusal.message);
    this.observer.error(`Server ${link.endpoint} refused the handshake: ${refusal.message}`);
    this.sessions.refused(link, err);
  }

  private onWelcome(link: UpstreamLink, env: Envelope): void {
    let welcome: Welcome | string;
    try {
      welcome = validateWelcome(decodePayload(env.encoding, env.payload));
    } catch (err) {
      welcome = (err as Error).message;
    }
    if (typeof welcome === 'string') return this.observer.drop('payload', welcome);
    if (welcome.version !== PROTOCOL_VERSION) {
      this.observer.drop('version', `welcome of version ${welcome.version}`);
      this.observer.error(
        `Server ${link.endpoint} welcomed in protocol version ${welcome.version}; this client speaks ${PROTOCOL_VERSION}`,
      );
      return this.sessions.refused(link, new ZmqVersionMismatchError(PROTOCOL_VERSION, welcome.version), welcome.id);
    }
    this.sessions.welcomed(link, welcome);
  }
}
