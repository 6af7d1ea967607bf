import { ZmqBindError } from '../errors/zmq.errors.js';
import type { BindChannel, ConnectChannel, SendFailure } from '../protocol/channel.js';
import { HICCUP_NOTICE, ZmqSocket, ZmqSocketSettings } from './zmq-socket.js';

/** zeromq errors become the engines' {@link SendFailure}: no errno outside lib/transport/. */
function failureOf(err: unknown): SendFailure {
  return (err as { code?: unknown } | null)?.code === 'EHOSTUNREACH' ? 'unroutable' : 'failed';
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

const NO_ROUTING_ID = Buffer.alloc(0);

/** A DEALER's own ZMQ_HICCUP_MSG: its connection to the server ended. */
function isHiccup(frames: Buffer[]): boolean {
  return frames.length === 1 && frames[0]!.equals(HICCUP_NOTICE);
}

/** Client channels: one DEALER per server endpoint. */
export function dealerChannels(settings: ZmqSocketSettings): ConnectChannel {
  return (endpoint, handlers) => {
    const socket = ZmqSocket.dealer(settings, (envs, dest, err) => handlers.sendFailed(failureOf(err), envs, dest));
    try {
      socket.connect(endpoint);
    } catch (err) {
      void socket.close();
      throw err;
    }
    socket.startReceiving(
      frames => (isHiccup(frames) ? handlers.disconnected?.(NO_ROUTING_ID) : handlers.message(frames)),
      err => handlers.receiveError(err),
    );
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
