import { EventEmitter } from 'node:events';
import { ZmqEvents, ZmqPeerEvent, ZmqPeerRefusedEvent } from '../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../protocol/channel.js';
import { DropCounter, DropCounterKey, DropCounts } from '../protocol/drop-counter.js';
import { publishPeerChange } from './peer-events.js';

interface MonitorLogger {
  debug?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * What an engine reports, delivered the Nest way: the `peer:*` listeners of
 * `server.on()` / `client.on()`, the process-wide {@link ZmqPeerEvents}
 * stream, the drop counters and the logger. Neither a listener that throws
 * nor a drop ever reaches the receive loop.
 */
export class TransportMonitor implements SessionObserver {
  private readonly emitter = new EventEmitter();
  private readonly dropped = new DropCounter();
  private refusals = 0;

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

  joined(event: ZmqPeerEvent): void {
    this.emit('peer:joined', event);
    publishPeerChange({ ...event, type: 'joined', role: this.role, localId: this.localId });
  }

  left(event: ZmqPeerEvent): void {
    this.emit('peer:left', event);
    publishPeerChange({ ...event, type: 'left', role: this.role, localId: this.localId });
  }

  refused(event: ZmqPeerRefusedEvent): void {
    this.refusals++;
    this.emit('peer:refused', event);
  }

  /** Handshakes refused so far (`getStats().refused`). */
  get refusedCount(): number {
    return this.refusals;
  }

  draining(event: ZmqPeerEvent): void {
    this.emit('peer:draining', event);
  }

  /** Counts `n` dropped messages and logs why at debug level. */
  drop(reason: DropCounterKey, detail: string, n = 1): void {
    this.dropped.add(reason, n);
    this.log.debug?.(`Dropped (${reason}): ${detail}`);
  }

  drops(): DropCounts {
    return this.dropped.snapshot();
  }

  warn(message: string): void {
    this.log.warn(message);
  }

  error(message: string): void {
    this.log.error(message);
  }

  private emit(event: keyof ZmqEvents, payload: unknown): void {
    try {
      this.emitter.emit(event, payload);
    } catch (err) {
      this.log.error(`A "${event}" listener threw: ${String(err)}`);
    }
  }
}
