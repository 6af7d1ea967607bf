/** The zeromq.js sockets this transport uses (lib/transport/ alone imports `zeromq`), with their options. */
import { context, Dealer, Router } from 'zeromq';
import { DealerCurve, dealerCurveOptions, RouterCurve, routerCurveOptions } from './curve-options.js';

export interface ZmqSocketSettings {
  linger: number;
  sendHighWaterMark: number;
  receiveHighWaterMark: number;
  /** Largest frame libzmq accepts before it drops the connection; -1 for none. */
  maxFrameSize: number;
  /** ROUTER only: ms a send to a full peer may block; see DEFAULT_SEND_TIMEOUT. */
  sendTimeout?: number;
  /** DEALER only: first and longest wait between reconnect tries, in ms. */
  reconnectInterval?: number;
  reconnectMaxInterval?: number;
  /** DEALER only: connect to IPv6 addresses too. */
  ipv6?: boolean;
  queueLimit: number;
  maxBatch: number;
  /** Queued envelopes at which a send starts the writer at once (EARLY_FLUSH_ENVELOPES). */
  earlyFlush: number;
  maxBatchBytes: number;
}

/** libzmq's ZMQ_ROUTER_NOTIFY socket option and its disconnect bit (zmq_draft.h). */
const ZMQ_ROUTER_NOTIFY = 97;
const ZMQ_NOTIFY_DISCONNECT = 2;

/**
 * libzmq's ZMQ_HICCUP_MSG socket option (zmq_draft.h): a DEALER whose
 * connection is interrupted receives this message from its own socket, at
 * once. No server message has one frame (they are header/payload pairs), so
 * it cannot be mistaken for one.
 */
const ZMQ_HICCUP_MSG = 114;
export const HICCUP_NOTICE = Buffer.from('\u0000nestjs-zeromq/connection-lost');

/** libzmq's ZMQ_ZERO_COPY_RECV context option (zmq_draft.h). */
const ZMQ_ZERO_COPY_RECV = 10;
let receiveCopies = false;

/**
 * Turns off libzmq's zero-copy receive in zeromq.js's default context, the
 * one every socket of this transport lives in, before the first ROUTER is
 * made (a socket takes the setting when it is created). With zero-copy on, a
 * received frame of over 128 bytes stays a view into libzmq's 8 KiB read
 * buffer until V8 collects it, while V8 is told only the frame's own size: a
 * flood of small garbage frames pins whole read buffers between collections,
 * and the allocator keeps that peak (docs/streams.md, "Memory under floods").
 * Copied, each frame holds just its bytes. Process-wide: other sockets of
 * the default context created afterwards receive by copy too.
 */
function receiveByCopy(): void {
  if (receiveCopies) return;
  receiveCopies = true;
  try {
    (context as unknown as RawContextOptions).setBoolOption(ZMQ_ZERO_COPY_RECV, false);
  } catch {
    // a libzmq without draft APIs: frames stay views into the read buffer
  }
}

/** zeromq.js's raw context option setter (typed protected; public at run time). */
interface RawContextOptions {
  setBoolOption(option: number, value: boolean): void;
}

/** zeromq.js's raw option setters (typed protected; public at run time). */
interface RawOptions {
  setInt32Option(option: number, value: number): void;
  setStringOption(option: number, value: string | Buffer): void;
}

/** The options both kinds of socket take from the settings. */
function commonOptions(settings: ZmqSocketSettings) {
  return {
    linger: settings.linger,
    sendHighWaterMark: settings.sendHighWaterMark,
    receiveHighWaterMark: settings.receiveHighWaterMark,
    maxMessageSize: settings.maxFrameSize,
  };
}

/**
 * A ROUTER: `mandatory` so an unroutable send fails instead of vanishing; ZMQ_ROUTER_NOTIFY where libzmq has it;
 * frames received by copy (receiveByCopy).
 */
export function createRouter(settings: ZmqSocketSettings, curve?: RouterCurve): Router {
  receiveByCopy();
  const raw = new Router({
    ...(curve !== undefined ? routerCurveOptions(curve) : {}),
    ...commonOptions(settings),
    mandatory: true,
    sendTimeout: settings.sendTimeout ?? -1,
  });
  try {
    // ZMQ_ROUTER_NOTIFY (draft API): a peer's connection end arrives at once as [routing id, empty frame].
    (raw as unknown as RawOptions).setInt32Option(ZMQ_ROUTER_NOTIFY, ZMQ_NOTIFY_DISCONNECT);
  } catch {
    // a libzmq without draft APIs: heartbeats find dead peers
  }
  return raw;
}

/**
 * A DEALER that learns at once when its connection ends (ZMQ_HICCUP_MSG;
 * `notices` says whether libzmq took the option). Not `immediate`: libzmq
 * drops the hiccup of a pipe it attaches only while connected. So what is
 * queued while the connection is down waits in the pipe and goes to
 * whichever server answers next; the session layer copes (a REQUEST without
 * a session is refused NOT_READY, never run). libzmq reconnects with capped
 * exponential backoff.
 */
export function createDealer(settings: ZmqSocketSettings, curve?: DealerCurve): { raw: Dealer; notices: boolean } {
  const raw = new Dealer({
    ...(curve !== undefined ? dealerCurveOptions(curve) : {}),
    ...commonOptions(settings),
    ...(settings.ipv6 === true ? { ipv6: true } : {}),
    ...(settings.reconnectInterval !== undefined ? { reconnectInterval: settings.reconnectInterval } : {}),
    ...(settings.reconnectMaxInterval !== undefined ? { reconnectMaxInterval: settings.reconnectMaxInterval } : {}),
  });
  try {
    (raw as unknown as RawOptions).setStringOption(ZMQ_HICCUP_MSG, HICCUP_NOTICE);
    return { raw, notices: true };
  } catch {
    // a libzmq without draft APIs: heartbeats find dead servers
    return { raw, notices: false };
  }
}
