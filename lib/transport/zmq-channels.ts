import { capability } from 'zeromq';
import { ZmqBindError, ZmqOptionsError } from '../errors/zmq.errors.js';
import type {
  BindChannel,
  Channel,
  ChannelHandlers,
  ConnectChannel,
  ConnectOptions,
  SendFailure,
} from '../protocol/channel.js';
import { FAST_RECONNECT_MS } from '../protocol/tuning.js';
import { DealerCurve, RouterCurve } from './curve-options.js';
import { HandshakeFailure, watchHandshakes } from './handshake-monitor.js';
import { registerZapDomain, ZAP_ENDPOINT, ZapAuthorizer, ZapProblem } from './zap.js';
import { HICCUP_NOTICE, ZmqSocketSettings } from './raw-sockets.js';
import { ZmqSocket } from './zmq-socket.js';

/** Throws unless this zeromq build has CURVE (the prebuilt ones do). */
function checkCurveCapability(): void {
  if (capability.curve !== true) {
    throw new ZmqOptionsError('curve', '"curve" needs a zeromq build with CURVE (zeromq.capability.curve is false)');
  }
}

/** A client's security: the CURVE settings per endpoint (none: plaintext) and where failed handshakes go. */
export interface DealerSecurity {
  curveOf(endpoint: string): DealerCurve | undefined;
  /** libzmq reported a failed security handshake on `channel`. */
  failed(channel: Channel, failure: HandshakeFailure): void;
}

/** A CURVE server's security: its pair and domain, the allow decision, where failures go. */
export interface RouterSecurity {
  readonly curve: RouterCurve;
  readonly authorize: ZapAuthorizer;
  readonly problem: ZapProblem;
  /** A handshake failed for a reason other than the allow-list (a plaintext client, a wrong server key). */
  readonly failed: (failure: HandshakeFailure) => void;
}

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
export function dealerChannels(settings: ZmqSocketSettings, security?: DealerSecurity): ConnectChannel {
  return (endpoint, handlers, options) => {
    const onSendError = (envs: Parameters<ChannelHandlers['sendFailed']>[1], dest: Buffer | undefined, err: unknown) =>
      handlers.sendFailed(failureOf(err), envs, dest);
    const curve = security?.curveOf(endpoint);
    if (curve !== undefined) checkCurveCapability();
    const socket = ZmqSocket.dealer(dealerSettings(settings, endpoint, options), onSendError, curve);
    // Only a CURVE DEALER reads its monitor (for AUTH_FAILED): a plaintext one has none that could fall behind.
    if (security !== undefined && curve !== undefined)
      watchHandshakes(socket, failure => security.failed(socket, failure));
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
export function routerChannel(settings: ZmqSocketSettings, security?: RouterSecurity): BindChannel {
  return async (endpoints, handlers) => {
    // The ZAP handler answers before the first connection can arrive; released when the socket closes.
    let release: (() => void) | undefined;
    if (security !== undefined) checkCurveCapability();
    try {
      if (security !== undefined) {
        release = await registerZapDomain(security.curve.zapDomain, security.authorize, security.problem);
      }
    } catch (err) {
      throw new ZmqBindError(ZAP_ENDPOINT, err);
    }
    let socket: ZmqSocket;
    try {
      socket = ZmqSocket.router(
        settings,
        (envs, dest, err) => handlers.sendFailed(failureOf(err), envs, dest),
        security?.curve,
      );
    } catch (err) {
      release?.();
      throw err;
    }
    if (release !== undefined) socket.onClosed(release);
    if (security !== undefined) watchHandshakes(socket, failure => security.failed(failure));
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
