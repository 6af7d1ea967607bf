import type { ZmqClientOptions, ZmqServerOptions } from '../interfaces/zmq-options.interface.js';
import { COMMON_OPTION_KEYS } from './common.js';

/** Every key of ZmqClientOptions; the type check below fails when one is missing. */
export const CLIENT_OPTION_KEYS = [
  ...COMMON_OPTION_KEYS,
  'connect',
  'connectTimeout',
  'requestTimeout',
  'strategy',
  'retries',
  'hedging',
  'reconnectInterval',
  'reconnectMaxInterval',
  'curve',
  'resolveInterval',
  'resolver',
] as const satisfies readonly (keyof ZmqClientOptions)[];
export const everyClientKey: Exclude<keyof ZmqClientOptions, (typeof CLIENT_OPTION_KEYS)[number]> extends never
  ? true
  : never = true;

/** Every key of ZmqServerOptions; the type check below fails when one is missing. */
export const SERVER_OPTION_KEYS = [
  ...COMMON_OPTION_KEYS,
  'bind',
  'transportId',
  'sendTimeout',
  'introspection',
  'curve',
  'allow',
  'acceptUnboundKeyProof',
  'drainTimeout',
  'maxCallsPerPeer',
  'maxBufferedPerPeer',
  'admission',
] as const satisfies readonly (keyof ZmqServerOptions)[];
export const everyServerKey: Exclude<keyof ZmqServerOptions, (typeof SERVER_OPTION_KEYS)[number]> extends never
  ? true
  : never = true;

/** The server's options a client does not take (named as server options when given to a client). */
export const SERVER_ONLY_KEYS: readonly string[] = SERVER_OPTION_KEYS.filter(
  k => !(CLIENT_OPTION_KEYS as readonly string[]).includes(k),
);

/** The client's options a server does not take. */
export const CLIENT_ONLY_KEYS: readonly string[] = CLIENT_OPTION_KEYS.filter(
  k => !(SERVER_OPTION_KEYS as readonly string[]).includes(k),
);
