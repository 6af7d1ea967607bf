import { printable } from '../../common/log-limiter.js';
import type { SessionObserver } from '../channel.js';
import type { Envelope } from '../frames.js';
import type { Metrics } from '../metrics.js';

/**
 * An EVENT whose pattern no handler serves: dropped before its payload is
 * decoded (a peer cannot make the server parse what nothing reads), counted
 * under one metrics bucket, never one record per pattern.
 */
export function unhandledEvent(engine: { observer: SessionObserver; metrics: Metrics }, env: Envelope): void {
  engine.metrics.unhandled('event');
  engine.observer.drop('unexpected', `an event of "${printable(env.pattern ?? '', 80)}", which no handler serves`);
}
