import { Injectable } from '@nestjs/common';
import { filter, Observable, Subject } from 'rxjs';
import { ZmqPeerChange } from '../interfaces/zmq-events.interface.js';

/**
 * Every peer change of every ServerZmq and ClientZmq in this process. Kept on
 * `globalThis` under a registered symbol, so that the CommonJS and the ESM
 * build of this package, if both are loaded, share one stream.
 */
const CHANGES = Symbol.for('nestjs-zeromq.peer-changes');
const registry = globalThis as { [CHANGES]?: Subject<ZmqPeerChange> };
const changes: Subject<ZmqPeerChange> = (registry[CHANGES] ??= new Subject<ZmqPeerChange>());

/** Publishes a change; a subscriber that throws never reaches the transport. */
export function publishPeerChange(change: ZmqPeerChange): void {
  try {
    changes.next(change);
  } catch {
    // rxjs reports subscriber errors asynchronously; nothing to do here.
  }
}

/**
 * Peer joins and leaves of every `ServerZmq` and `ClientZmq` in the process,
 * for Nest code that does not hold the server or client object (a server
 * strategy lives outside the DI container). Add it to a module's providers
 * and inject it:
 *
 * ```ts
 * @Injectable()
 * class PeerLog implements OnModuleInit {
 *   constructor(private readonly peers: ZmqPeerEvents) {}
 *   onModuleInit() {
 *     this.peers.left$.subscribe(e => console.log(`${e.peerId} left (${e.reason})`));
 *   }
 * }
 * ```
 *
 * Subscribers see the changes that happen after they subscribe; the current
 * peers are in `server.getPeers()` / `client.getPeers()`.
 */
@Injectable()
export class ZmqPeerEvents {
  /** Every join and leave. */
  readonly changes$: Observable<ZmqPeerChange> = changes.asObservable();
  /** Joins only. */
  readonly joined$: Observable<ZmqPeerChange> = this.changes$.pipe(filter(c => c.type === 'joined'));
  /** Leaves only (with `reason`). */
  readonly left$: Observable<ZmqPeerChange> = this.changes$.pipe(filter(c => c.type === 'left'));

  /** The same stream without dependency injection. */
  static readonly changes$: Observable<ZmqPeerChange> = changes.asObservable();
}
