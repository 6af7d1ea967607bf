import type { ZmqDropCounts } from '../interfaces/zmq-events.interface.js';
import type { DropReason } from './frames.js';

/** Reasons beyond decoding for which an inbound or outbound message is dropped. */
export type DropCounterKey = DropReason | 'unroutable' | 'lateReply' | 'sendFailed' | 'unsentEvent';

export type DropCounts = ZmqDropCounts;

/** Counts of dropped messages, by reason. */
export class DropCounter {
  private readonly counts: DropCounts = {
    frameCount: 0,
    version: 0,
    type: 0,
    header: 0,
    metadata: 0,
    payload: 0,
    oversized: 0,
    notReady: 0,
    unexpected: 0,
    unroutable: 0,
    lateReply: 0,
    sendFailed: 0,
    unsentEvent: 0,
  };

  add(reason: DropCounterKey, n = 1): void {
    this.counts[reason] += n;
  }

  snapshot(): DropCounts {
    return { ...this.counts };
  }
}
