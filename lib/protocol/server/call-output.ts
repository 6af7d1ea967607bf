import type { Envelope, OutEnvelope } from '../frames.js';
import type { Metrics } from '../metrics.js';
import { OutboxSettings, realYield, Yield } from '../stream-outbox.js';
import type { DeadlineWatch } from './deadlines.js';
import type { ReplyEncoder } from './replies.js';
import type { ServerCall } from './server-call.js';
import type { ServerEngineConfig } from './server-deps.js';
import type { DownstreamSession } from './sessions.js';

/** Where a call's replies go. */
export interface CallOutput {
  readonly replies: ReplyEncoder;
  readonly deadlines: DeadlineWatch<ServerCall>;
  /** The outbound queue's limit, for the QUEUE_FULL that ends a stream it cut short. */
  readonly queueLimit: number;
  /** Per-pattern counters and handler times: each call counts once, when it ends. */
  readonly metrics: Metrics;
  /** What a streamed reply to `session` may send and buffer (§6). */
  streamSettings(session: DownstreamSession): OutboxSettings;
  /** Queues an envelope; false when the queue is full (`final`: the last one of a call, which has a reserve). */
  send(session: DownstreamSession, env: OutEnvelope, final?: boolean): boolean;
  /** Told after a call ended, whichever way (a draining server waits for the last). */
  ended?(): void;
  /** The data of a REQUEST, or the value of one CHUNK of a request stream (the user's deserializer applied); throws when undecodable. */
  dataOf(env: Envelope, session: DownstreamSession): unknown;
}

/**
 * The stream settings of each session's replies: its client's window, the
 * server's `streamBufferLimit` per stream and `maxBufferedPerPeer` for all of
 * the session's streams together.
 */
export function streamSettingsOf(
  config: ServerEngineConfig,
  queueLimit: number,
  yieldTo: Yield = realYield,
): (session: DownstreamSession) => OutboxSettings {
  const limitBytes = config.stream?.bufferLimit ?? Number.POSITIVE_INFINITY;
  const peerLimit = config.maxBufferedPerPeer ?? Number.POSITIVE_INFINITY;
  return session => ({
    window: session.window,
    limitBytes,
    queueLimit,
    yieldTo,
    shared: (session.buffered ??= { used: 0, limit: peerLimit }),
  });
}
