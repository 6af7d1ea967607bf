import { ZmqBindError } from '../errors/zmq.errors.js';
import type { BindChannel, ChannelHandlers, ConnectChannel, ConnectOptions, SendFailure } from '../protocol/channel.js';
import { FAST_RECONNECT_MS } from '../protocol/limits.js';
import { ZmqSocket, ZmqSocketSettings } from './zmq-socket.js';

/** zeromq errors become the engines' {@link SendFailure}: no errno outside lib/transport/. */
function failureOf(err: unknown): SendFailure {
  return (err as { code?: unknown } | null)?.code === 'EHOSTUNREACH' ? 'unroutable' : 'failed';
}

function listen(socket: ZmqSocket, handlers: ChannelHandlers): void {
  socket.startReceiving(
    frames => handlers.message(frames),
    err => handlers.receiveError(err),
  );
}

/**
 * A ROUTER's ZMQ_ROUTER_NOTIFY message: the routing id and one empty frame. A
 * client that sends one empty frame itself (a malformed message) looks the
 * same, and so ends its own session (docs/PROTOCOL.md §7): telling the two
 * apart by a probe races libzmq's teardown of the pipe.
 */
function isDisconnectNotice(frames: Buffer[]): boolean {
  return frames.length === 2 && frames[1]!.length === 0;
}

/**
 * A DEALER's settings for one endpoint: IPv6 on for a bracketed address, and
 * the backoff capped at FAST_RECONNECT_MS while its server is expected back.
 */
function dealerSettings(settings: ZmqSocketSettings, endpoint: string, options?: ConnectOptions): ZmqSocketSettings {
  const ipv6 = endpoint.includes('[');
  if (options?.fastReconnect !== true) return ipv6 ? { ...settings, ipv6 } : settings;
  const first = Math.min(settings.reconnectInterval ?? FAST_RECONNECT_MS, FAST_RECONNECT_MS);
  return { ...settings, ipv6, reconnectInterval: first, reconnectMaxInterval: FAST_RECONNECT_MS };
}

/** Client channels: one DEALER per server endpoint. */
export function dealerChannels(settings: ZmqSocketSettings): ConnectChannel {
  return (endpoint, handlers, options) => {
    const socket = ZmqSocket.dealer(dealerSettings(settings, endpoint, options), (envs, dest, err) =>
      handlers.sendFailed(failureOf(err), envs, dest),
    );
    try {
      socket.connect(endpoint);
    } catch (err) {
      void socket.close();
      throw err;
    }
    listen(socket, handlers);
    return socket;
  };
}

/** The server channel: one ROUTER bound to every endpoint. */
export function routerChannel(settings: ZmqSocketSettings): BindChannel {
  return async (endpoints, handlers) => {
    const socket = ZmqSocket.router(settings, (envs, dest, err) => handlers.sendFailed(failureOf(err), envs, dest));
    const bound: string[] = [];
    for (const endpoint of endpoints) {
      try {
        bound.push(await socket.bind(endpoint));
      } catch (err) {
        await socket.close();
        throw new ZmqBindError(endpoint, err);
      }
    }
    socket.startReceiving(
      frames => (isDisconnectNotice(frames) ? handlers.disconnected?.(frames[0]!) : handlers.message(frames)),
      err => handlers.receiveError(err),
    );
    return { channel: socket, endpoints: bound };
  };
}
