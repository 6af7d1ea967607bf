/** The errors of streams and their flow control (docs/PROTOCOL.md §6, §6.1). */
import { ZmqError, ZmqErrorCode } from './zmq.errors.js';

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
