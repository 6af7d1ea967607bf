import { ZmqOptionsError } from '../errors/zmq.errors.js';
import type { ZmqPeerInfo } from '../interfaces/zmq-events.interface.js';
import type { ZmqMetrics } from '../interfaces/zmq-metrics.interface.js';
import { RESERVED_PATTERN_PREFIX } from '../protocol/metrics.js';

/** The reserved request pattern a server answers with {@link ZmqIntrospection} (docs/PROTOCOL.md §5.10). */
export const ZMQ_METRICS_PATTERN = '$zmq/metrics';

/** What a server answers to `$zmq/metrics` (the contract `npx nestjs-zeromq top` reads). */
export interface ZmqIntrospection {
  /** The server's id (its WELCOME's `id`). */
  serverId: string;
  /** Milliseconds since `listen()` completed. */
  uptimeMs: number;
  /** Clients with a session now (`endpoint` when the server knows it). */
  peers: Array<{ peerId: string; endpoint?: string }>;
  /** The server's `getMetrics()`. */
  metrics: ZmqMetrics;
}

/** What the answer is built from. */
export interface IntrospectionSource {
  readonly id: string;
  getPeers(): ZmqPeerInfo[];
  getMetrics(): ZmqMetrics;
}

/** The answer to `$zmq/metrics`, now. */
export function introspect(server: IntrospectionSource, listenedAt: number): ZmqIntrospection {
  return {
    serverId: server.id,
    uptimeMs: Math.max(0, Math.round(performance.now() - listenedAt)),
    peers: server
      .getPeers()
      .map(p => (p.endpoint !== undefined ? { peerId: p.peerId, endpoint: p.endpoint } : { peerId: p.peerId })),
    metrics: server.getMetrics(),
  };
}

/**
 * Patterns beginning with `$zmq/` belong to the transport: a user handler
 * for one fails `listen()` with INVALID_OPTIONS (`err.option` is `'pattern'`)
 * instead of being shadowed, or shadowing the built-in answer, in silence.
 */
export function checkReservedPatterns(patterns: Iterable<string>): void {
  for (const pattern of patterns) {
    if (pattern.startsWith(RESERVED_PATTERN_PREFIX)) {
      throw new ZmqOptionsError(
        'pattern',
        `the pattern "${pattern}" is reserved (patterns beginning with "${RESERVED_PATTERN_PREFIX}" belong to the transport, docs/PROTOCOL.md §5.10)`,
      );
    }
  }
}
