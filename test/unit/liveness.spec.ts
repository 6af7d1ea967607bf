import { ManualTime } from '../helpers/manual-time';
import { Heartbeat, HeartbeatPolicy, LivenessState, Verdict } from '../../lib/protocol/liveness';

interface Peer extends LivenessState {
  name: string;
}

describe('HeartbeatPolicy', () => {
  const policy = new HeartbeatPolicy({ interval: 100, liveness: 3 });

  it('is alive within an interval of traffic, pings after one silent interval, is dead after liveness intervals', () => {
    const s = policy.fresh(0);
    expect(policy.check(s, 99)).toBe(Verdict.Alive);
    expect(policy.check(s, 100)).toBe(Verdict.Ping);
    expect(policy.check(s, 299)).toBe(Verdict.Ping);
    expect(policy.check(s, 300)).toBe(Verdict.Dead);
    expect(policy.deadAfter).toBe(300);
  });

  it('pings at most once per interval', () => {
    const s = policy.fresh(0);
    s.lastPing = 150;
    expect(policy.check(s, 200)).toBe(Verdict.Alive);
    expect(policy.check(s, 250)).toBe(Verdict.Ping);
  });

  it('any traffic resets the silence', () => {
    const s = policy.fresh(0);
    s.lastSeen = 250;
    expect(policy.check(s, 299)).toBe(Verdict.Alive);
    expect(policy.check(s, 549)).toBe(Verdict.Ping);
    expect(policy.check(s, 550)).toBe(Verdict.Dead);
  });
});

describe('Heartbeat', () => {
  /** A running heartbeat (100 ms × 3) watching one peer, `a`, that was just heard from. */
  function setup() {
    const time = new ManualTime();
    const pings: string[] = [];
    const dead: string[] = [];
    const peers: Peer[] = [];
    const hb = new Heartbeat<Peer>(
      { interval: 100, liveness: 3 },
      {
        peers: () => peers,
        ping: p => pings.push(p.name),
        dead: p => {
          dead.push(p.name);
          peers.splice(peers.indexOf(p), 1);
        },
      },
      time,
      time,
    );
    const a: Peer = { name: 'a', ...hb.fresh() };
    peers.push(a);
    hb.start();
    return { time, pings, dead, hb, peers, a };
  }

  it('[W-28] declares a silent peer dead within interval × (liveness + 1), after pinging it', () => {
    const { time, pings, dead, peers } = setup();
    time.advance(399);
    expect(dead).toEqual(['a']);
    expect(pings.length).toBeGreaterThanOrEqual(1);
    expect(pings.length).toBeLessThanOrEqual(3);
    expect(peers).toEqual([]);
  });

  it('never declares a peer dead while it keeps talking', () => {
    const { time, dead, a } = setup();
    for (let i = 0; i < 100; i++) {
      time.advance(90);
      a.lastSeen = time.now();
    }
    expect(dead).toEqual([]);
  });

  it('a pinged peer that answers stays alive; one that stops answering dies', () => {
    const { time, pings, dead, a } = setup();
    for (let i = 0; i < 20; i++) {
      const before = pings.length;
      time.advance(50);
      if (pings.length > before) a.lastSeen = time.now(); // the PONG
    }
    expect(dead).toEqual([]);
    time.advance(400); // no more answers
    expect(dead).toEqual(['a']);
  });

  it('[W-28] after its own stall (SIGSTOP, a blocked loop) it gives peers a fresh window instead of declaring them dead', () => {
    const { time, dead, a } = setup();
    time.advance(50);
    time.jump(5_000);
    time.advance(1); // the overdue tick runs
    expect(dead).toEqual([]);
    a.lastSeen = time.now(); // what it sent meanwhile is read
    time.advance(250);
    expect(dead).toEqual([]);
    time.advance(400);
    expect(dead).toEqual(['a']);
  });

  it('stop() cancels its timer', () => {
    const { time, hb } = setup();
    expect(time.pending).toBe(1);
    hb.stop();
    expect(time.pending).toBe(0);
    expect(hb.running).toBe(false);
    time.advance(1_000);
    expect(time.pending).toBe(0);
  });

  it('a dead handler that stops the heartbeat is not re-armed by the tick', () => {
    const time = new ManualTime();
    const peers: Peer[] = [];
    const hb: Heartbeat<Peer> = new Heartbeat<Peer>(
      { interval: 100, liveness: 3 },
      { peers: () => peers, ping: () => undefined, dead: () => hb.stop() },
      time,
      time,
    );
    peers.push({ name: 'a', ...hb.fresh() });
    hb.start();
    time.advance(1_000);
    expect(hb.running).toBe(false);
    expect(time.pending).toBe(0);
  });
});
