import { ZmqErrorCode } from '../../errors/zmq.errors.js';
import { Envelope, Flag } from '../frames.js';
import { undecodableRequest } from './replies.js';
import type { CallOutput } from './call-output.js';
import { ServerCall } from './server-call.js';
import type { ServerHost } from './server-deps.js';
import type { DownstreamSession } from './sessions.js';

const NO_CREDIT = 'A request stream needs the credit feature, which this session did not agree on';
const NO_MESSAGE_HANDLER = 'There is no matching message handler defined in the remote service.';

/** What starting a request needs of its server engine. */
export interface RequestStarter extends CallOutput {
  readonly observer: { drop(reason: 'unexpected' | 'payload', detail: string): void };
  dataOf(env: Envelope, session: DownstreamSession): unknown;
}

/**
 * A REQUEST from a session (docs/PROTOCOL.md §5.1): a duplicate id is dropped,
 * a request stream on a session without `credit` answered STREAM_UNSUPPORTED,
 * an unknown pattern answered NO_HANDLER, undecodable data MALFORMED; else a
 * {@link ServerCall} runs the handler, with the caller's deadline watched and,
 * with flag STREAM, the data an Observable of the caller's CHUNKs (§6.1).
 */
export function startRequest<H>(
  engine: RequestStarter,
  host: ServerHost<H>,
  window: number | undefined,
  session: DownstreamSession,
  env: Envelope,
  /** How long (ms) it waited in the admission queue: taken off the caller's deadline. */
  waited = 0,
): void {
  const pattern = env.pattern!;
  if (env.flags & Flag.Stream && session.window === undefined) {
    // A request stream needs `credit` (§6.1): answered, never run, so the caller does not wait in vain.
    engine.observer.drop('unexpected', `request stream ${env.id} on a session without credit`);
    const err = { status: 'error', code: ZmqErrorCode.STREAM_UNSUPPORTED, message: NO_CREDIT };
    return void engine.send(session, engine.replies.error(env.id, err), true);
  }
  const handler = host.requestHandler(pattern);
  if (handler === null) {
    engine.metrics.unhandled('request');
    const message = `${NO_MESSAGE_HANDLER} Pattern: ${pattern}`;
    const err = { status: 'error', code: ZmqErrorCode.NO_HANDLER, message, pattern };
    return void engine.send(session, engine.replies.error(env.id, err), true);
  }
  let data: unknown;
  try {
    data = engine.dataOf(env, session);
  } catch (err) {
    engine.observer.drop('payload', (err as Error).message);
    return void engine.send(session, engine.replies.error(env.id, undecodableRequest(err)), true);
  }
  const remaining = env.deadline === undefined ? undefined : env.deadline - waited;
  const deadline = remaining === undefined ? undefined : Date.now() + remaining;
  const call = new ServerCall(env.id, pattern, session, engine, deadline);
  session.calls.set(call.id, call);
  if (remaining !== undefined) engine.deadlines.watch(call, remaining);
  const payload = env.flags & Flag.Stream ? call.openUpload(window ?? 1) : data;
  host.runRequest(call, handler, payload, env.metadata);
}
