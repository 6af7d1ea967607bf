import type { ReadPacket } from '@nestjs/microservices';
import { catchError, connectable, map, Observable, of, ReplaySubject } from 'rxjs';
import type { ZmqPeerReply } from '../interfaces/zmq-events.interface.js';
import { encodeMetadata, Metadata } from '../protocol/frames.js';
import { printable } from '../common/log-limiter.js';
import type { TransportMonitor } from '../common/transport-monitor.js';

/** Nest 12 packet metadata (set by `setOnDispatchHook`), encoded for the header; `undefined` when there is none. */
export function metadataOf(packet: ReadPacket): Buffer | undefined {
  const metadata = (packet as { metadata?: Metadata }).metadata;
  if (metadata === undefined || metadata === null || Object.keys(metadata).length === 0) return undefined;
  return encodeMetadata(metadata);
}

/** One server's replies in a broadcast: each value, or its error, tagged with the server's id. */
export function peerReplies<T>(peerId: string, replies: Observable<T>): Observable<ZmqPeerReply<T>> {
  return replies.pipe(
    map((value): ZmqPeerReply<T> => ({ peerId, value })),
    catchError((error: Error) => of<ZmqPeerReply<T>>({ peerId, error })),
  );
}

/** Runs `source` now (hot, like Nest's `emit()`) and replays its outcome to late subscribers. */
export function runHot<T>(source: Observable<T>): Observable<T> {
  const hot = connectable(source, { connector: () => new ReplaySubject<T>(1), resetOnDisconnect: false });
  hot.connect();
  return hot;
}

/** The packet of a send or emit: Nest 12 runs its dispatch hook (packet metadata) in createPacket; Nest 11 has none. */
export function packetOf(client: object, pattern: unknown, data: unknown): ReadPacket {
  const create = (client as { createPacket?: (p: unknown, d: unknown) => ReadPacket }).createPacket;
  return typeof create === 'function' ? create.call(client, pattern, data) : { pattern, data };
}

/**
 * An event `emit()` could not send (e.g. NO_PEER: no connected server
 * handles its pattern). Nest's `emit()` is hot, so nobody may ever see its
 * error: it is counted (`getStats().dropped.unsentEvent`) and logged,
 * rate-limited with the other unsent events.
 */
export function eventNotSent(monitor: TransportMonitor, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  monitor.drop('unsentEvent', message);
  monitor.warn(`Event not sent (${typeof code === 'string' ? code : 'error'}): ${printable(message)}`, 'unsent-event');
}
