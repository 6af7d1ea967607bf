import { EventEmitter } from 'node:events';
import { ZmqEvents, ZmqPeerEvent } from '../interfaces/zmq-events.interface';
import { DropCounter, DropCounterKey, DropCounts } from '../protocol/drop-counter';

interface MonitorLogger {
  debug?(message: string): void;
  error(message: string): void;
}

/**
 * What ServerZmq and ClientZmq share around their peers: the `peer:*`
 * listeners, the drop counters, and the logging of both. Neither a listener
 * that throws nor a drop ever reaches the receive loop.
 */
export class TransportMonitor {
  private readonly emitter = new EventEmitter();
  private readonly dropped = new DropCounter();

  constructor(private readonly log: MonitorLogger) {
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof ZmqEvents>(event: K, callback: ZmqEvents[K]): void {
    this.emitter.on(event, callback as (...args: unknown[]) => void);
  }

  notify(event: keyof ZmqEvents, payload: ZmqPeerEvent): void {
    try {
      this.emitter.emit(event, payload);
    } catch (err) {
      this.log.error(`A "${event}" listener threw: ${String(err)}`);
    }
  }

  /** Counts `n` dropped messages and logs why at debug level. */
  drop(reason: DropCounterKey, detail: string, n = 1): void {
    this.dropped.add(reason, n);
    this.log.debug?.(`Dropped (${reason}): ${detail}`);
  }

  drops(): DropCounts {
    return this.dropped.snapshot();
  }
}
