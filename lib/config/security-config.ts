import { ZmqOptionsError } from '../errors/zmq.errors.js';
import type {
  ZmqAllow,
  ZmqClientCurveOptions,
  ZmqClientOptions,
  ZmqServerOptions,
} from '../interfaces/zmq-options.interface.js';
import { checkAllow } from '../security/allow.js';
import { DEFAULT_ACCEPT_UNBOUND_KEY_PROOF } from '../defaults.js';
import { type CurveHelloOf, helloProof } from '../security/hello-proof.js';
import { checkCurveKey, checkKeyPair, CurveKeyPair, generateCurveKeyPair } from '../security/keys.js';

/** A server's resolved CURVE settings. */
export interface ServerCurveConfig extends CurveKeyPair {
  readonly allow: ZmqAllow;
  /** Accept HELLO key proofs not bound to their connection (a migration, docs/PROTOCOL.md §12.2). */
  readonly acceptUnboundKeyProof: boolean;
}

/** A client's resolved CURVE settings: its pair and, per endpoint slot, the server's key. */
export interface ClientCurveConfig extends CurveKeyPair {
  readonly serverKeys: readonly string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(value: Record<string, unknown>, known: readonly string[], option: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new ZmqOptionsError(`${option}.${key}`, `unknown option "${option}.${key}"`);
  }
}

/**
 * libzmq runs no security mechanism on `inproc://` connections (no CURVE, no
 * ZAP): a CURVE side may not use one, or a plaintext peer could get in there.
 */
function checkNoInproc(endpoints: readonly string[], option: 'bind' | 'connect'): void {
  const inproc = endpoints.find(e => e.startsWith('inproc://'));
  if (inproc !== undefined) {
    throw new ZmqOptionsError(
      option,
      `"${option}" endpoint "${inproc}" is inproc, which libzmq never secures: use CURVE over tcp or ipc, or no "curve"`,
    );
  }
}

/** `curve` and `allow` of a server: both or neither (no "encrypt but let anyone in"). */
export function resolveServerCurve(
  options: ZmqServerOptions,
  endpoints: readonly string[],
): ServerCurveConfig | undefined {
  const { curve, allow, acceptUnboundKeyProof } = options;
  if (acceptUnboundKeyProof !== undefined && typeof acceptUnboundKeyProof !== 'boolean') {
    throw new ZmqOptionsError('acceptUnboundKeyProof', '"acceptUnboundKeyProof" must be a boolean');
  }
  if (curve === undefined) {
    if (allow !== undefined) throw new ZmqOptionsError('allow', '"allow" needs "curve" (the server\'s key pair)');
    if (acceptUnboundKeyProof === true) {
      throw new ZmqOptionsError(
        'acceptUnboundKeyProof',
        '"acceptUnboundKeyProof" needs "curve": a plaintext server checks no key proof',
      );
    }
    return undefined;
  }
  if (!isRecord(curve)) throw new ZmqOptionsError('curve', '"curve" must be { publicKey, secretKey }');
  checkKeys(curve, ['publicKey', 'secretKey'], 'curve');
  const pair = checkKeyPair(curve, 'curve');
  checkNoInproc(endpoints, 'bind');
  if (allow === undefined) {
    throw new ZmqOptionsError(
      'allow',
      `"curve" needs "allow": the client public keys that may connect, a function (peer) => boolean, or '*' for any client with a key pair (encryption without authentication)`,
    );
  }
  return Object.freeze({
    ...pair,
    allow: checkAllow(allow),
    acceptUnboundKeyProof: acceptUnboundKeyProof ?? DEFAULT_ACCEPT_UNBOUND_KEY_PROOF,
  });
}

function serverKeysOf(serverKey: ZmqClientCurveOptions['serverKey'], endpoints: readonly string[]): string[] {
  if (typeof serverKey === 'string' || !isRecord(serverKey)) {
    const key = checkCurveKey(serverKey, 'curve.serverKey');
    return endpoints.map(() => key);
  }
  for (const endpoint of Object.keys(serverKey)) {
    if (!endpoints.includes(endpoint)) {
      throw new ZmqOptionsError('curve.serverKey', `"curve.serverKey" names "${endpoint}", which is not in "connect"`);
    }
  }
  return endpoints.map(endpoint => {
    if (serverKey[endpoint] === undefined) {
      throw new ZmqOptionsError('curve.serverKey', `"curve.serverKey" has no key for the endpoint "${endpoint}"`);
    }
    return checkCurveKey(serverKey[endpoint], `curve.serverKey["${endpoint}"]`);
  });
}

/** A client's `curve`: the server key(s), and its pair (a fresh one when none is given). */
export function resolveClientCurve(
  options: ZmqClientOptions,
  endpoints: readonly string[],
): ClientCurveConfig | undefined {
  const { curve } = options;
  if (curve === undefined) return undefined;
  if (!isRecord(curve)) throw new ZmqOptionsError('curve', '"curve" must be { serverKey, publicKey?, secretKey? }');
  checkKeys(curve, ['serverKey', 'publicKey', 'secretKey'], 'curve');
  checkNoInproc(endpoints, 'connect');
  const serverKeys = serverKeysOf(curve.serverKey, endpoints);
  const given = curve.publicKey !== undefined || curve.secretKey !== undefined;
  const pair = given ? checkKeyPair(curve, 'curve') : generateCurveKeyPair();
  return Object.freeze({ ...pair, serverKeys: Object.freeze(serverKeys) });
}

/**
 * The server key of `endpoint`: its own when it is one of `connect`, else
 * (an address a name resolved to, an endpoint added later) the one key all
 * endpoints share; `undefined` when they have different ones.
 */
export function serverKeyOf(
  curve: ClientCurveConfig,
  endpoints: readonly string[],
  endpoint: string,
): string | undefined {
  const i = endpoints.indexOf(endpoint);
  if (i >= 0) return curve.serverKeys[i];
  const keys = new Set(curve.serverKeys);
  return keys.size === 1 ? curve.serverKeys[0] : undefined;
}

/**
 * The HELLO key proof of the link of endpoint slot `slot` to `endpoint`:
 * unbound (docs/PROTOCOL.md §12.1), or bound to the `nonce` of the server's
 * CHALLENGE on that link's connection (§12.2).
 */
export function curveHelloOf(
  curve: ClientCurveConfig,
  endpoints: readonly string[],
  id: string,
  instanceOf: (slot: number) => string,
): CurveHelloOf {
  return (slot, endpoint, nonce) => {
    const serverKey = serverKeyOf(curve, endpoints, endpoint);
    return serverKey === undefined ? undefined : helloProof(curve, serverKey, id, instanceOf(slot), nonce);
  };
}
