import type { ZmqPeerEvent, ZmqPeerInfo } from '../../interfaces/zmq-events.interface.js';
import type { LivenessState } from '../liveness.js';
import type { ByteBudget } from '../stream-outbox.js';
import type { Envelope } from '../frames.js';
import type { Waiting } from './admission.js';
import type { ServerCall } from './server-call.js';

/** One client's session on this server: created by a WELCOME, ended by BYE, timeout, disconnect or close. */
export interface DownstreamSession extends LivenessState {
  /** The routing id as a string: the key of the session table. */
  readonly key: string;
  readonly routingId: Buffer;
  /** The client's id from its HELLO. */
  readonly id: string;
  readonly instance: string | undefined;
  readonly metadata: Record<string, unknown>;
  /** Calls in progress, by request id. */
  readonly calls: Map<number, ServerCall>;
  /** Requests read but waiting in the admission queue, by request id. */
  readonly waiting: Map<number, Waiting>;
  /** The CHUNKs and END of waiting request streams, by request id, held until their request starts (§6.1). */
  held?: Map<number, HeldStream>;
  /** The session took MessagePack (docs/PROTOCOL.md §3.5): object replies go as encoding 4. */
  readonly msgpack: boolean;
  /** The session took `bye-ack`: a BYE is answered with a BYE, both ways. */
  readonly byeAck: boolean;
  /** The client's proven CURVE public key (CURVE servers only, docs/PROTOCOL.md §12.1). */
  readonly publicKey?: string | undefined;
  /** The session took `drain`: a closing server tells it DRAIN before BYE (§5.6). */
  readonly drain: boolean;
  /** The client's window when the session took `credit` (§6): each reply stream's first credit. */
  readonly window: number | undefined;
  /** What every stream buffer of this session holds together (`maxBufferedPerPeer`), made at the first stream. */
  buffered?: ByteBudget;
  /** Bytes of the HELLO that opened it: what its metadata costs the server's handshake budget. */
  readonly helloBytes?: number;
}

/** What a request stream sent while its REQUEST waited: its envelopes in order, its CHUNKs and their cost. */
export interface HeldStream {
  readonly envs: Envelope[];
  chunks: number;
  bytes: number;
}

/**
 * The key under which a session holds its client id: the id within its
 * proven CURVE key (one key cannot take or block another key's id), or the
 * id alone on a plaintext server, where no client proves anything.
 */
function idKey(id: string, publicKey: string | undefined): string {
  return publicKey === undefined ? id : `${publicKey}\0${id}`;
}

/** The sessions of a server, by connection (routing id) and by client id. */
export class SessionTable {
  private readonly byKey = new Map<string, DownstreamSession>();
  private readonly byId = new Map<string, DownstreamSession>();
  private helloBytes = 0;
  /** HELLO bytes held per proven CURVE key. */
  private readonly helloBytesOfKey = new Map<string, number>();

  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<DownstreamSession> {
    return this.byKey.values();
  }

  /** The session on the connection with this routing-id key. */
  onConnection(key: string): DownstreamSession | undefined {
    return this.byKey.get(key);
  }

  /** The session of the client with this id (under this CURVE key), on whichever connection. */
  ofClient(id: string, publicKey?: string): DownstreamSession | undefined {
    return this.byId.get(idKey(id, publicKey));
  }

  /** HELLO bytes the sessions in the table hold (their metadata), against MAX_RETAINED_HELLO_BYTES. */
  get retainedHelloBytes(): number {
    return this.helloBytes;
  }

  /** HELLO bytes the sessions of one CURVE key hold, against MAX_RETAINED_HELLO_BYTES_PER_KEY. */
  retainedHelloBytesOf(publicKey: string): number {
    return this.helloBytesOfKey.get(publicKey) ?? 0;
  }

  add(session: DownstreamSession): void {
    this.byKey.set(session.key, session);
    this.byId.set(idKey(session.id, session.publicKey), session);
    this.count(session, 1);
  }

  private count(session: DownstreamSession, sign: 1 | -1): void {
    const bytes = (session.helloBytes ?? 0) * sign;
    this.helloBytes += bytes;
    const { publicKey } = session;
    if (publicKey === undefined) return;
    const held = (this.helloBytesOfKey.get(publicKey) ?? 0) + bytes;
    if (held > 0) this.helloBytesOfKey.set(publicKey, held);
    else this.helloBytesOfKey.delete(publicKey);
  }

  /** Removes the session; false when it was not (or no longer) in the table. */
  remove(session: DownstreamSession): boolean {
    if (this.byKey.get(session.key) !== session) return false;
    this.byKey.delete(session.key);
    const id = idKey(session.id, session.publicKey);
    if (this.byId.get(id) === session) this.byId.delete(id);
    this.count(session, -1);
    return true;
  }

  /** Calls in progress over every session. */
  inFlight(): number {
    let n = 0;
    for (const session of this.byKey.values()) n += session.calls.size;
    return n;
  }

  peers(): ZmqPeerInfo[] {
    return [...this.byKey.values()].map(s => ({
      peerId: s.id,
      direction: 'downstream',
      metadata: s.metadata,
      pending: s.calls.size,
      ...(s.publicKey !== undefined ? { publicKey: s.publicKey } : {}),
    }));
  }
}

/** A `peer:*` event for a session. */
export function sessionEvent(session: DownstreamSession, reason?: ZmqPeerEvent['reason']): ZmqPeerEvent {
  return {
    peerId: session.id,
    direction: 'downstream',
    metadata: session.metadata,
    ...(reason !== undefined ? { reason } : {}),
    ...(session.publicKey !== undefined ? { publicKey: session.publicKey } : {}),
  };
}
