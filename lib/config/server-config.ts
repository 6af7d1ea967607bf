import { DEFAULT_DRAIN_TIMEOUT, DEFAULT_SEND_TIMEOUT } from '../defaults.js';
import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { ZmqServerOptions } from '../interfaces/zmq-options.interface.js';
import { checkHandshakeMetadata } from '../protocol/handshake.js';
import type { ZmqSocketSettings } from '../transport/raw-sockets.js';
import {
  booleanOption,
  checkOptionsObject,
  CommonConfig,
  endpointList,
  numberOption,
  resolveCommon,
  socketSettings,
} from './common.js';
import { checkKnownKeys } from './validate.js';
import { SERVER_OPTION_KEYS, CLIENT_ONLY_KEYS } from './option-keys.js';
import { resolveServerCurve, ServerCurveConfig } from './security-config.js';

/** Every option of a {@link ServerZmq}, defaulted and validated. */
export interface ServerConfig extends CommonConfig {
  readonly endpoints: readonly string[];
  readonly transportId: symbol | undefined;
  /** `0`: no drain, BYE at once. */
  readonly drainTimeout: number;
  readonly socket: Readonly<ZmqSocketSettings>;
  /** Answer `$zmq/metrics` (docs/PROTOCOL.md §5.10). */
  readonly introspection: boolean;
  /** CURVE key pair and allow-list, when the server uses CURVE. */
  readonly curve: ServerCurveConfig | undefined;
}

/**
 * Resolves a server's options once, at construction: an unknown key or a bad
 * value is `INVALID_OPTIONS` naming it; metadata too large for a handshake is `TOO_LARGE`.
 */
export function resolveServerConfig(options: ZmqServerOptions): ServerConfig {
  checkOptionsObject(options, 'server');
  checkKnownKeys(options, SERVER_OPTION_KEYS, 'server', CLIENT_ONLY_KEYS);
  const endpoints = endpointList(options.bind, 'bind');
  const common = resolveCommon(options);
  checkHandshakeMetadata(common.metadata, 'server');
  if (options.transportId !== undefined && typeof options.transportId !== 'symbol') {
    throw new ZmqOptionsError('transportId', '"transportId" must be a symbol');
  }
  const socket: ZmqSocketSettings = {
    ...socketSettings(options, common.maxPayload),
    sendTimeout: numberOption(options.sendTimeout, DEFAULT_SEND_TIMEOUT, 'sendTimeout', true),
  };
  return Object.freeze({
    ...common,
    endpoints: Object.freeze(endpoints),
    transportId: options.transportId,
    introspection: booleanOption(options.introspection, true, 'introspection'),
    curve: resolveServerCurve(options, endpoints),
    drainTimeout: numberOption(options.drainTimeout, DEFAULT_DRAIN_TIMEOUT, 'drainTimeout', true),
    socket: Object.freeze(socket),
  });
}
