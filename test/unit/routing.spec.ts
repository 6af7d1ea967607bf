/**
 * The pure routing functions of the client (lib/protocol/client/routing.ts):
 * which server a target selects, and which candidate a strategy picks.
 */
import type { ZmqPeerInfo } from '../../lib/interfaces/zmq-events.interface';
import { matchesTarget, pickPeer, Routable, sameValue } from '../../lib/protocol/client/routing';

interface Peer extends Routable {
  readonly name: string;
  pending: number;
}

function peer(name: string, pending = 0, metadata: Record<string, unknown> = {}): Peer {
  return {
    name,
    pending,
    info: (): ZmqPeerInfo => ({ peerId: name, direction: 'upstream', endpoint: `tcp://${name}:1`, metadata, pending }),
  };
}

describe('pickPeer', () => {
  const a = peer('a');
  const b = peer('b');
  const c = peer('c');

  it('round-robin takes candidates[turn % n]', () => {
    const picks = [0, 1, 2, 3, 4, 5].map(turn => pickPeer([a, b, c], 'round-robin', turn).name);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(pickPeer([a, b, c], 'round-robin', 3_000_000_001).name).toBe('b');
  });

  it('round-robin ignores pending counts', () => {
    const busy = peer('busy', 100);
    expect(pickPeer([busy, a], 'round-robin', 0)).toBe(busy);
  });

  it('least-pending takes the candidate with the fewest calls, wherever the turn starts', () => {
    const x = peer('x', 3);
    const y = peer('y', 1);
    const z = peer('z', 2);
    for (let turn = 0; turn < 6; turn++) expect(pickPeer([x, y, z], 'least-pending', turn)).toBe(y);
  });

  it('least-pending breaks ties in the rotation', () => {
    const x = peer('x', 1);
    const y = peer('y', 0);
    const z = peer('z', 0);
    const picks = [0, 1, 2, 3].map(turn => pickPeer([x, y, z], 'least-pending', turn).name);
    // turn 0 starts at x (busier): the first of the idle ones after it, y;
    // turn 1 starts at y, turn 2 at z, turn 3 at x again.
    expect(picks).toEqual(['y', 'y', 'z', 'y']);
    const all = [0, 1, 2].map(turn => pickPeer([a, b, c], 'least-pending', turn).name);
    expect(all).toEqual(['a', 'b', 'c']);
  });

  it('one candidate is always the pick', () => {
    const only = peer('only', 9);
    expect(pickPeer([only], 'least-pending', 7)).toBe(only);
    expect(pickPeer([only], 'round-robin', 7)).toBe(only);
  });
});

describe('matchesTarget', () => {
  const eu = peer('srv-eu', 0, { zone: 'eu', tier: 1, tags: { role: 'primary', n: [1, 2] } });

  it('a string target is the peer id', () => {
    expect(matchesTarget(eu, 'srv-eu', eu.info().metadata, 'srv-eu')).toBe(true);
    expect(matchesTarget(eu, 'srv-eu', eu.info().metadata, 'srv-us')).toBe(false);
  });

  it('{ peerId } matches the id; an empty object matches anything', () => {
    expect(matchesTarget(eu, 'srv-eu', {}, { peerId: 'srv-eu' })).toBe(true);
    expect(matchesTarget(eu, 'srv-eu', {}, { peerId: 'other' })).toBe(false);
    expect(matchesTarget(eu, 'srv-eu', {}, {})).toBe(true);
  });

  it('{ metadata } needs every key equal', () => {
    const md = eu.info().metadata;
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { zone: 'eu' } })).toBe(true);
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { zone: 'eu', tier: 1 } })).toBe(true);
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { zone: 'eu', tier: 2 } })).toBe(false);
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { tier: '1' } })).toBe(false); // no coercion
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { missing: 'x' } })).toBe(false);
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { missing: undefined } })).toBe(true);
  });

  it('{ metadata } compares object values by their JSON', () => {
    const md = eu.info().metadata;
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { tags: { role: 'primary', n: [1, 2] } } })).toBe(true);
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { tags: { role: 'primary', n: [2, 1] } } })).toBe(false);
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { tags: { role: 'primary' } } })).toBe(false);
    expect(matchesTarget(eu, 'srv-eu', md, { metadata: { tags: null } })).toBe(false);
  });

  it('{ peerId, metadata } needs both', () => {
    const md = eu.info().metadata;
    expect(matchesTarget(eu, 'srv-eu', md, { peerId: 'srv-eu', metadata: { zone: 'eu' } })).toBe(true);
    expect(matchesTarget(eu, 'srv-eu', md, { peerId: 'srv-eu', metadata: { zone: 'us' } })).toBe(false);
    expect(matchesTarget(eu, 'srv-eu', md, { peerId: 'x', metadata: { zone: 'eu' } })).toBe(false);
  });

  it('a predicate gets the peer info', () => {
    const seen: ZmqPeerInfo[] = [];
    const pred = (p: ZmqPeerInfo) => {
      seen.push(p);
      return p.endpoint === 'tcp://srv-eu:1';
    };
    expect(matchesTarget(eu, 'srv-eu', {}, pred)).toBe(true);
    expect(matchesTarget(peer('other'), 'other', {}, pred)).toBe(false);
    expect(seen.map(p => p.peerId)).toEqual(['srv-eu', 'other']);
  });
});

describe('sameValue', () => {
  it('primitives by identity, objects by JSON', () => {
    expect(sameValue('a', 'a')).toBe(true);
    expect(sameValue(1, '1')).toBe(false);
    expect(sameValue(null, null)).toBe(true);
    expect(sameValue(null, {})).toBe(false);
    expect(sameValue({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(sameValue([1], [1, 2])).toBe(false);
  });
});
