import type { SendFailure, SessionObserver } from '../channel.js';
import { MessageType, type OutEnvelope } from '../frames.js';
import type { DownstreamSession, SessionTable } from './sessions.js';

/**
 * Counts the envelopes a server's channel could not send (heartbeat PINGs
 * carry nothing: losing them is not a drop) and returns the session whose
 * connection is gone (`unroutable`, EHOSTUNREACH), which the engine ends.
 */
export function reportSendFailure(
  observer: SessionObserver,
  sessions: SessionTable,
  failure: SendFailure,
  envs: readonly OutEnvelope[],
  destination: Buffer | undefined,
): DownstreamSession | undefined {
  let lost = 0;
  for (const env of envs) if (env.type !== MessageType.Ping) lost++;
  const reason = failure === 'unroutable' ? 'unroutable' : 'sendFailed';
  if (lost > 0) observer.drop(reason, `${lost} envelope(s) (${failure})`, lost);
  if (failure !== 'unroutable' || destination === undefined) return undefined;
  return sessions.onConnection(destination.toString('latin1'));
}
