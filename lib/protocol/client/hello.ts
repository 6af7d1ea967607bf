import { MessageType, type OutEnvelope } from '../frames.js';
import {
  BYE_ACK_FEATURE,
  DEADLINE_FEATURE,
  DRAIN_FEATURE,
  handshakeEnvelope,
  type HeartbeatSettings,
  type Welcome,
} from '../handshake.js';
import { CREDIT_FEATURE } from '../credit.js';
import { PROTOCOL_VERSION } from '../limits.js';
import { MSGPACK_FEATURE } from '../msgpack.js';
import { codecFeatures, PacketCodec } from '../packet-codec.js';
import { CURVE_KEY_FEATURE } from '../../security/hello-proof.js';

/** What a link's HELLO says (docs/PROTOCOL.md §4.1). */
export interface HelloSettings {
  readonly id: string;
  readonly instance: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly heartbeat: Readonly<HeartbeatSettings>;
  readonly msgpack?: boolean;
  /** The CURVE key proof of a link's HELLO (feature `curve-key`, docs/PROTOCOL.md §12.1). */
  readonly curveHello?: ((slot: number, endpoint: string) => { key: string; proof: string } | undefined) | undefined;
  /** The client's `streamWindow`, offered with `credit` (undefined: no credit offered). */
  readonly stream?: { readonly window: number | undefined };
  /** The `serializer` / `deserializer` options, announced (features `serializer`, `plain-replies`). */
  readonly serializers?: Readonly<PacketCodec> | undefined;
}

/** The HELLO instance of the link to endpoint number `slot` of a client object. */
export function helloInstance(instance: string, slot: number): string {
  return `${instance}/${slot}`;
}

/**
 * The HELLO of the link to endpoint number `slot`. Its instance is the same
 * across close() / connect() for one endpoint (a reconnecting client is handed
 * its session over) and distinct between endpoints (two links to one server
 * must not take the session from each other).
 */
export function helloFor(settings: HelloSettings, slot: number, endpoint: string): OutEnvelope {
  const { id, metadata, heartbeat } = settings;
  const curve = settings.curveHello?.(slot, endpoint);
  const window = settings.stream?.window;
  return handshakeEnvelope(MessageType.Hello, {
    version: PROTOCOL_VERSION,
    id,
    instance: helloInstance(settings.instance, slot),
    metadata: { ...metadata },
    heartbeat,
    features: [
      DEADLINE_FEATURE,
      BYE_ACK_FEATURE,
      DRAIN_FEATURE,
      ...(settings.msgpack === true ? [MSGPACK_FEATURE] : []),
      ...(curve !== undefined ? [CURVE_KEY_FEATURE] : []),
      ...(window !== undefined ? [CREDIT_FEATURE] : []),
      ...codecFeatures(settings.serializers, 'client'),
    ],
    ...(curve !== undefined ? { curve } : {}),
    ...(window !== undefined ? { window } : {}),
  });
}

/**
 * Whether `next`, a WELCOME on a link that had the session `previous`, comes
 * from another server instance (docs/PROTOCOL.md §4.2): the server restarted,
 * and the old session's calls are gone with it. Only when both carry one.
 */
export function isRestart(previous: Welcome, next: Welcome): boolean {
  return previous.instance !== undefined && next.instance !== undefined && previous.instance !== next.instance;
}
