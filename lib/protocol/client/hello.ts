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
import {
  BOUND_KEY_FEATURE,
  CURVE_KEY_FEATURE,
  type CurveHelloOf,
  type HelloCurve,
} from '../../security/hello-proof.js';

/** What a link's HELLO says (docs/PROTOCOL.md §4.1). */
export interface HelloSettings {
  readonly id: string;
  readonly instance: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly heartbeat: Readonly<HeartbeatSettings>;
  readonly msgpack?: boolean;
  /** The CURVE key proof of a link's HELLO (features `curve-key`, `curve-key-2`, docs/PROTOCOL.md §12). */
  readonly curveHello?: CurveHelloOf | undefined;
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
 * The HELLO of the link to endpoint number `slot`, built when it is sent.
 * Its instance is the same across close() / connect() for one endpoint (a
 * reconnecting client is handed its session over) and distinct between
 * endpoints (two links to one server must not take the session from each
 * other). With CURVE it offers `curve-key` and `curve-key-2`: its key proof
 * is the unbound one (§12.1, which a server without `curve-key-2` takes),
 * or, given the `nonce` of the server's CHALLENGE on this connection, the
 * proof bound to it (§12.2).
 */
export function helloFor(settings: HelloSettings, slot: number, endpoint: string, nonce?: string): OutEnvelope {
  return helloWith(settings, slot, settings.curveHello?.(slot, endpoint, nonce));
}

/** A link's HELLO, built each time it is sent. */
export interface LinkHello {
  /** The HELLO that opens (or reopens) a session. */
  first(): OutEnvelope;
  /** The HELLO that answers a CHALLENGE's `nonce` (§12.2); `undefined` when the link proves no key. */
  answer(nonce: string): OutEnvelope | undefined;
}

/** The HELLOs of the link to endpoint number `slot` (see {@link helloFor}). */
export function linkHello(settings: HelloSettings, slot: number, endpoint: string): LinkHello {
  return {
    first: () => helloFor(settings, slot, endpoint),
    answer: nonce => {
      const curve = settings.curveHello?.(slot, endpoint, nonce);
      return curve === undefined ? undefined : helloWith(settings, slot, curve);
    },
  };
}

function helloWith(settings: HelloSettings, slot: number, curve: HelloCurve | undefined): OutEnvelope {
  const { id, metadata, heartbeat } = settings;
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
      ...(curve !== undefined ? [CURVE_KEY_FEATURE, BOUND_KEY_FEATURE] : []),
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
