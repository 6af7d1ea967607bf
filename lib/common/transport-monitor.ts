import { EventEmitter } from 'node:events';
import { ZmqEvents, ZmqPeerEvent, ZmqPeerRefusedEvent } from '../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../protocol/channel.js';
import { DropCounter, DropCounterKey, DropCounts } from '../protocol/drop-counter.js';
import { LogLimiter, LogLimiterOptions } from './log-limiter.js';
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
  private readonly limiter: LogLimiter;

  constructor(
    private readonly log: MonitorLogger,
    private readonly role: 'server' | 'client',
    private readonly localId: string,
    limits: LogLimiterOptions = {},
  ) {
    this.emitter.setMaxListeners(0);
    this.limiter = new LogLimiter((level, message) => {
      if (level === 'debug') this.log.debug?.(message);
      else this.log[level](message);
    }, limits);
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

  health(event: ZmqPeerEvent, change: 'ejected' | 'restored'): void {
    this.emit(change === 'ejected' ? 'peer:ejected' : 'peer:restored', event);
    if (change === 'ejected') this.warn(`Server ${event.peerId} ejected: its calls kept failing`, 'ejected server');
  }

  connectRefused(endpoint: string, attempts: number): void {
    this.emit('connect:refused', { endpoint, attempts });
  }

  /** Counts `n` dropped messages and logs why at debug level, rate-limited per reason. */
  drop(reason: DropCounterKey, detail: string, n = 1): void {
    this.dropped.add(reason, n);
    if (this.log.debug !== undefined)
      this.limiter.log('debug', `Dropped (${reason})`, `Dropped (${reason}): ${detail}`);
  }

  drops(): DropCounts {
    return this.dropped.snapshot();
  }

  warn(message: string, kind?: string): void {
    if (kind === undefined) this.log.warn(message);
    else this.limiter.log('warn', kind, message);
  }

  error(message: string, kind?: string): void {
    if (kind === undefined) this.log.error(message);
    else this.limiter.log('error', kind, message);
  }

  /** Writes the pending summaries of rate-limited conditions (on close). */
  flushLogs(): void {
    this.limiter.flush();
  }

  private emit(event: keyof ZmqEvents, payload: unknown): void {
    try {
      this.emitter.emit(event, payload);
    } catch (err) {
      this.log.error(`A "${event}" listener threw: ${String(err)}`);
    }
  }
}
