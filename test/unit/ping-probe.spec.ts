/**
 * PING round trips (client.ping()): the n-th PONG answers the n-th PING,
 * heartbeat PINGs included; a PONG that never comes ends in TIMEOUT or
 * PEER_LOST. Fake channels and ManualTime: nothing waits on real time.
 */
import { ZmqErrorCode } from '../../lib/errors/zmq.errors';
import { probe, probeAll, PongTracker, ZmqPingResult } from '../../lib/protocol/client/ping-probe';
import type { UpstreamLink } from '../../lib/protocol/client/upstream-link';
import { BYE, PONG } from '../../lib/protocol/envelopes';
import { MessageType } from '../../lib/protocol/frames';
import { flush } from '../helpers/async';
import { A, B, connectedEngine, welcome } from '../helpers/client-engine';

async function connected(endpoints = [A]) {
  const { time, net, engine } = await connectedEngine(endpoints.map((e, i) => [e, welcome(`srv-${i}`, [])]));
  const link = (e: string) => engine.links.find(l => l.endpoint === e) as UpstreamLink;
  return { time, net, engine, link };
}

/** The outcome of a promise, readable at any time. */
function track<T>(promise: Promise<T>) {
  const state: { value?: T } = {};
  void promise.then(v => (state.value = v));
  return state;
}

describe('PongTracker', () => {
  it('the n-th PONG answers the n-th PING; a PONG with none outstanding is ignored', () => {
    const t = new PongTracker();
    const seen: string[] = [];
    t.ponged(); // unsolicited: must not answer the PING that follows
    const one = t.pinged();
    const two = t.pinged();
    t.await(two, ok => seen.push(`two:${ok}`));
    t.await(one, ok => seen.push(`one:${ok}`));
    t.ponged();
    expect(seen).toEqual(['one:true']);
    t.ponged();
    expect(seen).toEqual(['one:true', 'two:true']);
  });

  it('reset() forgets outstanding PINGs and tells their waiters', () => {
    const t = new PongTracker();
    const seen: boolean[] = [];
    t.await(t.pinged(), ok => seen.push(ok));
    t.reset();
    expect(seen).toEqual([false]);
    // The next PING is matched by the next PONG, not by a stale count.
    t.await(t.pinged(), ok => seen.push(ok));
    t.ponged();
    expect(seen).toEqual([false, true]);
  });

  it('resync() does nothing while another probe waits', () => {
    const t = new PongTracker();
    const seen: boolean[] = [];
    t.pinged(); // the probe that timed out
    t.await(t.pinged(), ok => seen.push(ok));
    t.resync();
    t.ponged();
    expect(seen).toEqual([]); // that PONG answered the first PING
    t.ponged();
    expect(seen).toEqual([true]);
  });
});

describe('probe over the client engine', () => {
  it('measures PING to PONG on the session, with the peer id and endpoint', async () => {
    const s = await connected();
    const sent = s.net.channel(A).sent.length;
    const result = track(probe(s.link(A), s.time, s.time, 1_000));
    expect(s.net.channel(A).typesSince(sent)).toEqual([MessageType.Ping]);
    s.time.advance(7);
    s.net.channel(A).deliver(PONG);
    await flush();
    expect(result.value).toEqual({ peerId: 'srv-0', endpoint: A, rttMs: 7 });
    expect(s.time.pending).toBeGreaterThan(0); // only the engine's own timers remain
  });

  it('a heartbeat PING sent before the probe does not answer it', async () => {
    const s = await connected();
    // Silence for an interval: the heartbeat pings.
    const sent = s.net.channel(A).sent.length;
    s.time.advance(150);
    expect(s.net.channel(A).typesSince(sent)).toContain(MessageType.Ping);
    const result = track(probe(s.link(A), s.time, s.time, 1_000));
    s.time.advance(3);
    s.net.channel(A).deliver(PONG); // the heartbeat's
    await flush();
    expect(result.value).toBeUndefined();
    s.time.advance(2);
    s.net.channel(A).deliver(PONG); // the probe's
    await flush();
    expect(result.value).toEqual({ peerId: 'srv-0', endpoint: A, rttMs: 5 });
  });

  it('no PONG within the timeout: TIMEOUT; the next probe is matched afresh', async () => {
    const s = await connected();
    const first = track(probe(s.link(A), s.time, s.time, 50));
    s.time.advance(50);
    await flush();
    expect(first.value?.error?.code).toBe(ZmqErrorCode.TIMEOUT);
    expect(first.value?.rttMs).toBeUndefined();
    const second = track(probe(s.link(A), s.time, s.time, 50));
    s.time.advance(4);
    s.net.channel(A).deliver(PONG);
    await flush();
    expect(second.value?.rttMs).toBe(4);
  });

  it('the session ends first: PEER_LOST', async () => {
    const s = await connected();
    const result = track(probe(s.link(A), s.time, s.time, 1_000));
    s.net.channel(A).deliver(BYE);
    await flush();
    expect(result.value?.error?.code).toBe(ZmqErrorCode.PEER_LOST);
  });

  it('probeAll pings every server with a session, and skips links without one', async () => {
    const s = await connected([A, B]);
    s.net.channel(B).deliver(BYE);
    const all = track(probeAll(s.engine.links, s.time, 1_000, s.time));
    s.time.advance(2);
    s.net.channel(A).deliver(PONG);
    await flush();
    expect(all.value).toEqual<ZmqPingResult[]>([{ peerId: 'srv-0', endpoint: A, rttMs: 2 }]);
  });
});
