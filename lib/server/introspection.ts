import { ZmqErrorCode, ZmqOptionsError } from '../errors/zmq.errors.js';
import type { ZmqPeerInfo } from '../interfaces/zmq-events.interface.js';
import type { ZmqMetrics } from '../interfaces/zmq-metrics.interface.js';
import { RESERVED_PATTERN_PREFIX } from '../protocol/metrics.js';
import { isCanonicalCurveKey } from '../security/keys.js';

/** Most peers one `$zmq/metrics` answer lists (`peerCount` has them all): the answer's size is bounded. */
export const MAX_INTROSPECTION_PEERS = 1_000;

/**
 * Who may read `$zmq/metrics` (`introspection`): nobody (the default; the
 * pattern is not served), any client, or (CURVE) the clients whose public
 * keys the operator names. Any other caller gets NO_HANDLER, as if the
 * pattern were not there.
 */
export type IntrospectionPolicy =
  { readonly kind: 'off' } | { readonly kind: 'any' } | { readonly kind: 'keys'; readonly keys: ReadonlySet<string> };

/** Checks the `introspection` option; `curve`: the server has CURVE (a key list needs it). */
export function resolveIntrospection(value: unknown, curve: boolean): IntrospectionPolicy {
  if (value === undefined || value === false) return { kind: 'off' };
  if (value === true) return { kind: 'any' };
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys)) {
    throw new ZmqOptionsError(
      'introspection',
      '"introspection" must be true, false, or { keys: [...] } (the CURVE public keys that may read $zmq/metrics)',
    );
  }
  keys.forEach((key, i) => {
    if (!isCanonicalCurveKey(key)) {
      throw new ZmqOptionsError('introspection', `"introspection.keys[${i}]" must be a CURVE public key`);
    }
  });
  if (!curve) {
    throw new ZmqOptionsError('introspection', '"introspection.keys" needs "curve": a plaintext client proves no key');
  }
  return { kind: 'keys', keys: new Set(keys as string[]) };
}

/** Whether a caller with this proven key (none on plaintext) may read the introspection. */
export function mayIntrospect(policy: IntrospectionPolicy, publicKey: string | undefined): boolean {
  if (policy.kind === 'any') return true;
  return policy.kind === 'keys' && publicKey !== undefined && policy.keys.has(publicKey);
}

/** The reserved request pattern a server answers with {@link ZmqIntrospection} (docs/PROTOCOL.md §5.7). */
export const ZMQ_METRICS_PATTERN = '$zmq/metrics';

/** What a server answers to `$zmq/metrics` (the contract `npx nestjs-zeromq top` reads). */
export interface ZmqIntrospection {
  /** The server's id (its WELCOME's `id`). */
  serverId: string;
  /** Milliseconds since `listen()` completed. */
  uptimeMs: number;
  /** Clients with a session now (`endpoint` when the server knows it), at most {@link MAX_INTROSPECTION_PEERS}. */
  peers: Array<{ peerId: string; endpoint?: string }>;
  /** How many clients have a session (`peers` may list fewer). */
  peerCount: number;
  /** The server's `getMetrics()`. */
  metrics: ZmqMetrics;
}

/** The NO_HANDLER a request of `pattern` gets when this caller may not read it: the same as a pattern not there. */
export function notServed(pattern: string): Error {
  const message = `There is no matching message handler defined in the remote service. Pattern: ${pattern}`;
  return Object.assign(new Error(message), { status: 'error', code: ZmqErrorCode.NO_HANDLER, pattern });
}

/** What the answer is built from. */
export interface IntrospectionSource {
  readonly id: string;
  getPeers(): ZmqPeerInfo[];
  getMetrics(): ZmqMetrics;
}

/** The answer to `$zmq/metrics`, now. */
export function introspect(server: IntrospectionSource, listenedAt: number): ZmqIntrospection {
  const all = server.getPeers();
  return {
    serverId: server.id,
    uptimeMs: Math.max(0, Math.round(performance.now() - listenedAt)),
    peers: all
      .slice(0, MAX_INTROSPECTION_PEERS)
      .map(p => (p.endpoint !== undefined ? { peerId: p.peerId, endpoint: p.endpoint } : { peerId: p.peerId })),
    peerCount: all.length,
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
        `the pattern "${pattern}" is reserved (patterns beginning with "${RESERVED_PATTERN_PREFIX}" belong to the transport, docs/PROTOCOL.md §5.7)`,
      );
    }
  }
}
