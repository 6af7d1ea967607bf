import { DEFAULT_SEND_TIMEOUT } from '../defaults.js';
import { ZmqServerOptions } from '../interfaces/zmq-options.interface.js';
import { checkHandshakeMetadata } from '../protocol/handshake.js';
import type { ZmqSocketSettings } from '../transport/zmq-socket.js';
import { CommonConfig, endpointList, numberOption, resolveCommon, socketSettings } from './common.js';

/** Every option of a {@link ServerZmq}, defaulted and validated. */
export interface ServerConfig extends CommonConfig {
  readonly endpoints: readonly string[];
  readonly transportId: symbol | undefined;
  readonly socket: Readonly<ZmqSocketSettings>;
}

/**
 * Resolves a server's options once, at construction: a TypeError names the
 * first bad option; metadata too large for a handshake is `TOO_LARGE`.
 */
export function resolveServerConfig(options: ZmqServerOptions): ServerConfig {
  const endpoints = endpointList(options?.bind, 'bind');
  const common = resolveCommon(options);
  checkHandshakeMetadata(common.metadata, 'server');
  if (options.transportId !== undefined && typeof options.transportId !== 'symbol') {
    throw new TypeError('nestjs-zeromq: "transportId" must be a symbol');
  }
  const socket: ZmqSocketSettings = {
    ...socketSettings(options, common.maxPayload),
    sendTimeout: numberOption(options.sendTimeout, DEFAULT_SEND_TIMEOUT, 'sendTimeout', true),
  };
  return Object.freeze({
    ...common,
    endpoints: Object.freeze(endpoints),
    transportId: options.transportId,
    socket: Object.freeze(socket),
  });
}
