import { ZmqErrorCode } from '../../errors/zmq.errors.js';
import { Envelope, Flag } from '../frames.js';
import { undecodableRequest } from './replies.js';
import type { CallOutput } from './call-output.js';
import { ServerCall } from './server-call.js';
import type { ServerHost } from './server-deps.js';
import type { DownstreamSession } from './sessions.js';

const NO_MESSAGE_HANDLER = 'There is no matching message handler defined in the remote service.';

/** What starting a request needs of its server engine. */
export interface RequestStarter extends CallOutput {
  readonly observer: { drop(reason: 'unexpected' | 'payload', detail: string): void };
  dataOf(env: Envelope, session: DownstreamSession): unknown;
}

/**
 * A REQUEST from a session (docs/PROTOCOL.md §5.2): a duplicate id is dropped,
 * an unknown pattern answered NO_HANDLER, undecodable data MALFORMED; else a
 * {@link ServerCall} runs the handler, with the caller's deadline watched and,
 * with flag STREAM, the data an Observable of the caller's CHUNKs (§5.9).
 */
export function startRequest<H>(
  engine: RequestStarter,
  host: ServerHost<H>,
  window: number | undefined,
  session: DownstreamSession,
  env: Envelope,
): void {
  const pattern = env.pattern!;
  if (session.calls.has(env.id)) return engine.observer.drop('unexpected', `duplicate request id ${env.id}`);
  const handler = host.requestHandler(pattern);
  if (handler === null) {
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
  const deadline = env.deadline === undefined ? undefined : Date.now() + env.deadline;
  const call = new ServerCall(env.id, pattern, session, engine, deadline);
  session.calls.set(call.id, call);
  if (env.deadline !== undefined) engine.deadlines.watch(call, env.deadline);
  const payload = env.flags & Flag.Stream ? call.openUpload(window ?? 1) : data;
  host.runRequest(call, handler, payload, env.metadata);
}
