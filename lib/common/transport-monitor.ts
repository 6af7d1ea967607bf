import { EventEmitter } from 'node:events';
import { ZmqEvents, ZmqPeerEvent, ZmqPeerRefusedEvent } from '../interfaces/zmq-events.interface';
import { DropCounter, DropCounterKey, DropCounts } from '../protocol/drop-counter';
import { publishPeerChange } from './peer-events';

interface MonitorLogger {
  debug?(message: string): void;
  error(message: string): void;
}

/**
 * What ServerZmq and ClientZmq share around their peers: the `peer:*`
 * listeners (and the process-wide {@link ZmqPeerEvents} stream), the drop
 * counters, and the logging of both. Neither a listener that throws nor a
 * drop ever reaches the receive loop.
 */
export class TransportMonitor {
  private readonly emitter = new EventEmitter();
  private readonly dropped = new DropCounter();

  constructor(
    private readonly log: MonitorLogger,
    private readonly role: 'server' | 'client',
    private readonly localId: string,
  ) {
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof ZmqEvents>(event: K, callback: ZmqEvents[K]): void {
    this.emitter.on(event, callback as (...args: unknown[]) => void);
  }

  notify(event: 'peer:joined' | 'peer:left', payload: ZmqPeerEvent): void {
    this.emit(event, payload);
    publishPeerChange({ ...payload, type: event === 'peer:joined' ? 'joined' : 'left', role: this.role, localId: this.localId });
  }

  refused(payload: ZmqPeerRefusedEvent): void {
    this.emit('peer:refused', payload);
  }

  private emit(event: keyof ZmqEvents, payload: unknown): void {
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
