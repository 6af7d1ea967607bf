import type { SendFailure, SessionObserver } from '../channel.js';
import { MessageType, OutEnvelope } from '../frames.js';

/** Counts the envelopes a failed write lost (`unroutable` or `sendFailed`); heartbeat PINGs carry nothing and are not drops. */
export function countLost(observer: SessionObserver, failure: SendFailure, envs: readonly OutEnvelope[]): void {
  let lost = 0;
  for (const env of envs) if (env.type !== MessageType.Ping) lost++;
  const reason = failure === 'unroutable' ? 'unroutable' : 'sendFailed';
  if (lost > 0) observer.drop(reason, `${lost} envelope(s) (${failure})`, lost);
}
