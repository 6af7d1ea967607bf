import type { ZmqPeerLeftReason } from '../interfaces/zmq-events.interface.js';

/**
 * Stable error codes. Match on `err.code`, never on the message.
 * Codes a server puts on the wire (`NO_HANDLER`, `NOT_READY`, `MALFORMED`,
 * `VERSION_MISMATCH`) reach the caller as a {@link ZmqRemoteError} with that code.
 */
export const ZmqErrorCode = {
  /**
   * No server completed the handshake within `connectTimeout`, while
   * something accepts connections at an endpoint (or the endpoints could not
   * be probed). The error's `reason` says what was met: `no-handshake`
   * (something accepted the connection but no ZeroMQ handshake completed),
   * `no-answer`, or `refused` for the endpoints that refused.
   */
  CONNECT_TIMEOUT: 'CONNECT_TIMEOUT',
  /**
   * Nothing accepts connections at any endpoint: each one refused a
   * connection (ECONNREFUSED), has no ipc socket file, no route, or a host
   * name that does not resolve. `connect()` rejects with it as soon as that
   * is known, without waiting for `connectTimeout`; the client keeps trying
   * in the background, and a later `connect()` resolves once a server is up.
   */
  CONNECT_REFUSED: 'CONNECT_REFUSED',
  /** A request got no reply message within `requestTimeout`. */
  TIMEOUT: 'TIMEOUT',
  /** The client or server was closed while the call was pending. */
  CLOSED: 'CLOSED',
  /** The socket's outbound queue is full (`sendQueueLimit`). */
  QUEUE_FULL: 'QUEUE_FULL',
  /** A payload is larger than `maxPayloadSize`. */
  TOO_LARGE: 'TOO_LARGE',
  /** No connected server serves the pattern (or matches the target). */
  NO_PEER: 'NO_PEER',
  /** The peer a request was sent to went away (bye, heartbeat timeout, disconnect) before it answered. */
  PEER_LOST: 'PEER_LOST',
  /** A value could not be encoded for the wire. */
  SERIALIZATION: 'SERIALIZATION',
  /** The peer speaks another protocol version. */
  VERSION_MISMATCH: 'VERSION_MISMATCH',
  /** `listen()` could not bind an endpoint. */
  BIND_FAILED: 'BIND_FAILED',
  /** The server refused the handshake. */
  HANDSHAKE_REFUSED: 'HANDSHAKE_REFUSED',
  /**
   * The security handshake failed: the server's allow-list refused this
   * client's CURVE key, or one side uses CURVE and the other does not.
   */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The server has no handler for the request's pattern. */
  NO_HANDLER: 'NO_HANDLER',
  /** The server got a request from a peer that has not completed the handshake. */
  NOT_READY: 'NOT_READY',
  /** The server could not decode the request. */
  MALFORMED: 'MALFORMED',
  /** A remote handler failed and its error carried no `code` of its own. */
  REMOTE_ERROR: 'REMOTE_ERROR',
  /**
   * A stream's sender buffered more than `streamBufferLimit` bytes of values
   * its receiver had not granted (it pushes faster than the receiver takes):
   * the stream ends with this error on both sides.
   */
  STREAM_OVERFLOW: 'STREAM_OVERFLOW',
  /** A peer did not read what was sent to it within `sendTimeout`: the call that lost an envelope ends with this. */
  SEND_TIMEOUT: 'SEND_TIMEOUT',
  /** A streamed request went to a server that does not take request streams (no `credit` feature). */
  STREAM_UNSUPPORTED: 'STREAM_UNSUPPORTED',
  /** A request stream a handler was reading ended because the call was cancelled (the caller unsubscribed, or its deadline passed). */
  CANCELLED: 'CANCELLED',
  /** An option passed to a constructor is unknown or has a bad value (thrown at construction). */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /**
   * The call was shed to keep a server serving under overload: the server
   * refused it (its queue or the caller's share was full), or the client
   * refused it locally because its servers were refusing most calls. Nothing
   * ran; it is safe to retry later or elsewhere.
   */
  OVERLOADED: 'OVERLOADED',
} as const;

export type ZmqErrorCode = (typeof ZmqErrorCode)[keyof typeof ZmqErrorCode];

/** Base class of every error this package raises. */
export class ZmqError extends Error {
  /** Stable, machine-readable code. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * An option of `new ServerZmq()` / `new ClientZmq()` (or of
 * `ZmqClientsModule.register()`) is unknown or has a bad value. Thrown at
 * construction; `option` names it, and the message says what is wrong (for an
 * unknown key, the nearest known one).
 */
export class ZmqOptionsError extends ZmqError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(ZmqErrorCode.INVALID_OPTIONS, `nestjs-zeromq: ${message}`);
  }
}

/**
 * What one endpoint met while a client's `connect()` waited, as a short
 * connection attempt beside libzmq's own found it, from the furthest:
 * - `no-session`: a ZeroMQ socket completed the ZeroMQ handshake, but no
 *   nestjs-zeromq WELCOME answered the HELLO (another application's socket);
 * - `no-handshake`: something accepts connections there, but no ZeroMQ
 *   handshake completed (a listener that is not a nestjs-zeromq server, a
 *   CURVE server and a plaintext client or the reverse, a wrong
 *   `curve.serverKey`, or a server too busy to answer);
 * - `refused`: nothing accepts connections there (no server running or
 *   bound at that address: ECONNREFUSED, no ipc socket file, no route, or a
 *   host name that does not resolve);
 * - `no-answer`: the attempt was neither accepted nor refused in time (an
 *   unreachable host, packets dropped by a firewall) or failed otherwise.
 */
export type ZmqConnectReason = 'no-session' | 'no-handshake' | 'refused' | 'no-answer';

/** One endpoint of a CONNECT_TIMEOUT or CONNECT_REFUSED: what it met, and that said for a person. */
export interface ZmqConnectSeen {
  readonly endpoint: string;
  readonly reason: ZmqConnectReason;
  readonly detail: string;
}

const CONNECT_REASON_ORDER: readonly ZmqConnectReason[] = ['no-session', 'no-handshake', 'refused', 'no-answer'];

/**
 * `connect()` found no server that completed the handshake in time. With
 * `seen`, the message says what each endpoint's attempts met, and `reason`
 * is the furthest any of them got (see {@link ZmqConnectReason}).
 */
export class ZmqConnectTimeoutError extends ZmqError {
  /** The furthest any endpoint got; `undefined` when nothing was observed. */
  readonly reason: ZmqConnectReason | undefined;
  /** Per endpoint, what its attempts met. */
  readonly seen: readonly ZmqConnectSeen[];

  constructor(
    readonly endpoints: readonly string[],
    readonly timeoutMs: number,
    /** More on why, e.g. that a CURVE handshake may have been refused. */
    hint?: string,
    seen: readonly ZmqConnectSeen[] = [],
  ) {
    const what =
      seen.length === 0 ? ` (endpoints: ${endpoints.join(', ')})` : `: ${seen.map(s => s.detail).join('; ')}`;
    super(
      ZmqErrorCode.CONNECT_TIMEOUT,
      `No server completed the handshake within ${timeoutMs} ms${what}${hint === undefined ? '' : `; ${hint}`}`,
    );
    this.seen = seen;
    this.reason = CONNECT_REASON_ORDER.find(r => seen.some(s => s.reason === r));
  }
}

/**
 * Nothing accepts connections at any endpoint (see `CONNECT_REFUSED`):
 * `seen` says per endpoint what was met and what to check.
 */
export class ZmqConnectRefusedError extends ZmqError {
  readonly seen: readonly ZmqConnectSeen[];

  constructor(
    readonly endpoints: readonly string[],
    seen: readonly ZmqConnectSeen[] = [],
  ) {
    super(
      ZmqErrorCode.CONNECT_REFUSED,
      seen.length === 0
        ? `Nothing accepts connections at ${endpoints.join(', ')} (connection refused): is the server running and bound to that address?`
        : seen.map((s, i) => (i === 0 ? s.detail.charAt(0).toUpperCase() + s.detail.slice(1) : s.detail)).join('; '),
    );
    this.seen = seen;
  }
}

/** A request saw no reply message within `requestTimeout`. */
export class ZmqTimeoutError extends ZmqError {
  constructor(
    readonly pattern: string,
    readonly timeoutMs: number,
  ) {
    super(ZmqErrorCode.TIMEOUT, `Request "${pattern}" got no reply within ${timeoutMs} ms`);
  }
}

/** The client or server was closed while the call was pending. */
export class ZmqClosedError extends ZmqError {
  constructor() {
    super(ZmqErrorCode.CLOSED, 'The ZeroMQ client was closed');
  }
}

/** The outbound queue of a socket is full. */
export class ZmqQueueFullError extends ZmqError {
  constructor(readonly limit: number) {
    super(ZmqErrorCode.QUEUE_FULL, `The outbound queue is full (${limit} envelopes are waiting)`);
  }
}

/** A payload exceeds `maxPayloadSize`. */
export class ZmqMessageTooLargeError extends ZmqError {
  constructor(
    readonly size: number,
    readonly limit: number,
    /** What was too large, when it was not a payload (e.g. a handshake's metadata). */
    context?: string,
  ) {
    super(
      ZmqErrorCode.TOO_LARGE,
      `${context === undefined ? 'Payload' : `${context}: the encoding`} of ${size} bytes exceeds the maximum of ${limit} bytes`,
    );
  }
}

/**
 * Why no server could take a request or event: none has a session
 * (`no-server`), none of those that do serves the pattern (`not-served`), or
 * none of those matches the target (`no-match`).
 */
export type ZmqNoPeerReason = 'no-server' | 'not-served' | 'no-match';

/**
 * No connected server serves the pattern (or, with a target, none that
 * matches it). Raised at once, before anything is sent.
 */
export class ZmqNoPeerError extends ZmqError {
  constructor(
    readonly pattern: string,
    readonly reason: ZmqNoPeerReason,
    /**
     * With `not-served`: the pattern a connected server announced in its
     * handshake that is nearest to `pattern` (a likely typo of it).
     */
    readonly suggestion?: string,
  ) {
    super(
      ZmqErrorCode.NO_PEER,
      reason === 'no-server'
        ? `No connected server to send "${pattern}" to`
        : `No connected server${reason === 'no-match' ? ' matching the target' : ''} serves "${pattern}"${suggestion === undefined ? '' : `. Did you mean "${suggestion}"?`}`,
    );
  }
}

/** A call shed under overload, by its server (`by: 'server'`) or by this client (`by: 'client'`); no handler ran. */
export class ZmqOverloadedError extends ZmqError {
  constructor(
    readonly pattern: string,
    readonly by: 'server' | 'client',
    detail?: string,
  ) {
    super(
      ZmqErrorCode.OVERLOADED,
      `"${pattern}" was shed: ${by === 'server' ? 'its server is overloaded' : 'its servers are refusing most calls'}${detail !== undefined ? ` (${detail})` : ''}`,
    );
  }
}

/** The peer went away before the request ended; `reason` is `'bye'`, `'timeout'` or `'disconnect'`. */
export class ZmqPeerLostError extends ZmqError {
  constructor(
    readonly peerId: string,
    readonly reason: ZmqPeerLeftReason,
  ) {
    super(ZmqErrorCode.PEER_LOST, `Peer ${peerId} was lost (${reason}) before the request ended`);
  }
}

/** A value could not be encoded for the wire (or a `serializer` / `deserializer` option failed). */
export class ZmqSerializationError extends ZmqError {
  constructor(cause: unknown, action: 'encode' | 'decode' = 'encode') {
    super(
      ZmqErrorCode.SERIALIZATION,
      `Could not ${action} the payload: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** The peer speaks a different protocol version. */
export class ZmqVersionMismatchError extends ZmqError {
  constructor(
    readonly localVersion: number,
    readonly remoteVersion: number,
  ) {
    super(
      ZmqErrorCode.VERSION_MISMATCH,
      `Protocol version mismatch: this side speaks ${localVersion}, the peer speaks ${remoteVersion}`,
    );
  }
}

/** `listen()` could not bind one of its endpoints. */
export class ZmqBindError extends ZmqError {
  /** The underlying ZeroMQ error code, e.g. `EADDRINUSE`. */
  readonly reason: string | undefined;

  constructor(
    readonly endpoint: string,
    cause: unknown,
  ) {
    const reason = (cause as { code?: unknown } | null)?.code;
    super(
      ZmqErrorCode.BIND_FAILED,
      `Could not bind ${endpoint}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.reason = typeof reason === 'string' ? reason : undefined;
  }
}

/** The server refused the handshake (the message says why). */
export class ZmqHandshakeRefusedError extends ZmqError {
  constructor(message: string) {
    super(ZmqErrorCode.HANDSHAKE_REFUSED, message);
  }
}

/**
 * The security handshake failed (`AUTH_FAILED`): the server refused this
 * client's CURVE key, or one side uses CURVE and the other does not. On a
 * client it fails `connect()` and `send()`; on a server it is the `error` of
 * a `peer:refused` event.
 */
export class ZmqAuthFailedError extends ZmqError {
  constructor(
    message: string,
    /** The server's endpoint (client side). */
    readonly endpoint?: string,
  ) {
    super(ZmqErrorCode.AUTH_FAILED, message);
  }
}

/**
 * A remote handler's error, as the caller sees it. `message`, `code` and
 * `status` are copied from the remote error when present; the raw remote
 * value is kept in `error`.
 */
export class ZmqRemoteError extends ZmqError {
  /** `status` of the remote error object, when it had one (Nest uses `'error'`). */
  readonly status: unknown;

  constructor(readonly error: unknown) {
    const fields = typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : undefined;
    const message =
      typeof error === 'string' ? error : typeof fields?.message === 'string' ? fields.message : 'Remote error';
    const code = fields?.code;
    super(typeof code === 'string' || typeof code === 'number' ? String(code) : ZmqErrorCode.REMOTE_ERROR, message);
    this.status = fields?.status;
  }
}

/**
 * A reply could not be decoded (its header or payload broke docs/PROTOCOL.md
 * §9); the call it belongs to fails with this. Its code is `MALFORMED`, the
 * same code a server sends back for a request it could not decode: either way
 * the other side sent something malformed.
 */
export class ZmqProtocolError extends ZmqError {
  constructor(message: string) {
    super(ZmqErrorCode.MALFORMED, message);
  }
}

/**
 * A stream outran its receiver's credit by more than `streamBufferLimit`
 * bytes of encoded values (an Observable cannot be paused): the stream ends
 * with this error on both sides and the producer is unsubscribed.
 */
export class ZmqStreamOverflowError extends ZmqError {
  constructor(
    readonly limit: number,
    /** Values that were waiting for credit when the limit was passed. */
    readonly buffered: number,
    /** Which limit: the stream's own (`streamBufferLimit`) or what every stream toward the peer may hold (`maxBufferedPerPeer`). */
    readonly scope: 'stream' | 'peer' = 'stream',
  ) {
    super(
      ZmqErrorCode.STREAM_OVERFLOW,
      `The stream outran its receiver: ${buffered} values waited for credit and the next passed ${scope === 'stream' ? 'streamBufferLimit' : 'maxBufferedPerPeer'} (${limit} bytes)`,
    );
  }
}

/**
 * A client did not read what the server sent it within `sendTimeout`: a
 * call whose envelope was lost ends with this rather than go on with a gap.
 */
export class ZmqSendTimeoutError extends ZmqError {
  constructor(readonly timeoutMs: number) {
    super(ZmqErrorCode.SEND_TIMEOUT, `The peer did not read within sendTimeout (${timeoutMs} ms): a reply was lost`);
  }
}

/**
 * A request stream (an Observable or AsyncIterable as `send()` data) needs a
 * session that took `credit`: `side` says who did not offer it, the server
 * (`'server'`) or this client itself (`'client'`: its `streamWindow` is 0).
 */
export class ZmqStreamUnsupportedError extends ZmqError {
  constructor(
    readonly peerId: string,
    readonly side: 'server' | 'client' = 'server',
  ) {
    super(
      ZmqErrorCode.STREAM_UNSUPPORTED,
      side === 'client'
        ? `This client does not send request streams: its "streamWindow" option is 0 (set it above 0 to send one to ${peerId})`
        : `Server ${peerId} does not take request streams (its handshake did not accept the 'credit' feature)`,
    );
  }
}

/** The call was cancelled while its handler still read the request stream. */
export class ZmqCancelledError extends ZmqError {
  constructor(reason = 'the call was cancelled') {
    super(ZmqErrorCode.CANCELLED, `The request stream ended early: ${reason}`);
  }
}
