import type { ZmqPeerInfo, ZmqStrategy, ZmqTarget } from '../../interfaces/zmq-events.interface.js';

/** What routing needs to know of a server. */
export interface Routable {
  readonly pending: number;
  info(): ZmqPeerInfo;
}

/** Whether a server's handshake (`peerId`, `metadata`) matches a target (docs: `sendTo`). */
export function matchesTarget(
  peer: Routable,
  peerId: string,
  metadata: Record<string, unknown>,
  target: ZmqTarget,
): boolean {
  if (typeof target === 'string') return peerId === target;
  if (typeof target === 'function') return target(peer.info());
  if (target.peerId !== undefined && peerId !== target.peerId) return false;
  if (target.metadata !== undefined) {
    for (const key of Object.keys(target.metadata)) {
      if (!sameValue(metadata[key], target.metadata[key])) return false;
    }
  }
  return true;
}

/** Equal primitives, or objects with the same JSON. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Picks one of `candidates` (at least one). `turn` is the caller's rotating
 * counter: round-robin takes `candidates[turn % n]`; least-pending takes the
 * one with the fewest calls in flight, ties broken in the same rotation.
 */
export function pickPeer<T extends Routable>(candidates: readonly T[], strategy: ZmqStrategy, turn: number): T {
  const n = candidates.length;
  const start = turn % n;
  if (strategy === 'round-robin' || n === 1) return candidates[start]!;
  let best = candidates[start]!;
  for (let i = 1; i < n; i++) {
    const peer = candidates[(start + i) % n]!;
    if (peer.pending < best.pending) best = peer;
  }
  return best;
}
