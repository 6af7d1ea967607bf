import { ZmqSendTimeoutError } from '../../errors/stream.errors.js';
import type { SendFailure, SessionObserver } from '../channel.js';
import { MessageType, OutEnvelope } from '../frames.js';
import type { SessionTable } from './sessions.js';

/** Counts the envelopes a failed write lost (`unroutable` or `sendFailed`); heartbeat PINGs carry nothing and are not drops. */
export function countLost(observer: SessionObserver, failure: SendFailure, envs: readonly OutEnvelope[]): void {
  let lost = 0;
  for (const env of envs) if (env.type !== MessageType.Ping) lost++;
  const reason = failure === 'unroutable' ? 'unroutable' : 'sendFailed';
  if (lost > 0) observer.drop(reason, `${lost} envelope(s) (${failure})`, lost);
}

/**
 * A write to one client failed (docs/PROTOCOL.md §5.1): the envelopes are
 * counted; an unroutable client's session ends (`disconnected`); otherwise
 * (the client did not read within `sendTimeout`) every call that lost an
 * envelope ends now with ERROR `SEND_TIMEOUT` instead of going on with a gap:
 * its producer is torn down, and the caller gets the error if it reads again.
 */
export function sendFailed(
  host: { readonly observer: SessionObserver; readonly sessions: SessionTable; disconnected(key: string): void },
  failure: SendFailure,
  envs: readonly OutEnvelope[],
  destination: Buffer | undefined,
  sendTimeout: number,
): void {
  countLost(host.observer, failure, envs);
  if (destination === undefined) return;
  const key = destination.toString('latin1');
  if (failure === 'unroutable') return host.disconnected(key);
  const session = host.sessions.onConnection(key);
  if (session === undefined) return;
  for (const env of envs) {
    if (env.id !== 0) session.calls.get(env.id)?.failed(new ZmqSendTimeoutError(sendTimeout));
  }
}
