/**
 * The Prometheus adapter exports a counter's series once it has counted
 * something: no zero-valued series for every pattern × code, event pattern or
 * drop reason that never happened. Sources are plain objects, read through a
 * real prom-client Registry.
 */
import { Registry } from 'prom-client';
import type { ZmqStats } from '../../lib/interfaces/zmq-events.interface';
import type { ZmqMetrics, ZmqPatternMetrics } from '../../lib/interfaces/zmq-metrics.interface';
import { registerZmqMetrics } from '../../lib/prometheus/index';

const BUCKETS = [0.001, 0.01, 0.1, 1];

function pattern(over: Partial<ZmqPatternMetrics> = {}): ZmqPatternMetrics {
  return {
    requests: 0,
    events: 0,
    ok: 0,
    errors: {},
    cancels: 0,
    timeouts: 0,
    latency: { count: 0, sum: 0, buckets: BUCKETS.map(le => ({ le, count: 0 })) },
    ...over,
  };
}

/** A client-side source whose figures the test sets between scrapes. */
function source() {
  const state: { metrics: ZmqMetrics; dropped: Record<string, number> } = {
    metrics: { patterns: {}, peers: 0, inFlight: 0, queued: 0 },
    dropped: { lateReply: 0, unknownPeer: 0 },
  };
  return {
    state,
    getMetrics: () => state.metrics,
    getStats: () => ({ dropped: state.dropped }) as unknown as ZmqStats,
  };
}

async function scrape(register: Registry): Promise<string[]> {
  const text = await register.metrics();
  return text.split('\n').filter(line => line.startsWith('nestjs_zeromq_'));
}

describe('registerZmqMetrics: series appear when they occur', () => {
  it('a fresh source exports its gauges only', async () => {
    const register = new Registry();
    const src = source();
    src.state.metrics.patterns = { sum: pattern(), audit: pattern() };
    registerZmqMetrics({ register, sources: [{ side: 'client', source: src }] });
    expect(await scrape(register)).toEqual([
      'nestjs_zeromq_peers{side="client"} 0',
      'nestjs_zeromq_in_flight{side="client"} 0',
      'nestjs_zeromq_queued{side="client"} 0',
    ]);
  });

  it('requests ending OK export the OK series only, no zero for CANCELLED, TIMEOUT or other codes', async () => {
    const register = new Registry();
    const src = source();
    src.state.metrics.patterns = {
      sum: pattern({
        requests: 2,
        ok: 2,
        errors: { NO_HANDLER: 0 },
        latency: { count: 2, sum: 0.004, buckets: BUCKETS.map(le => ({ le, count: le >= 0.01 ? 2 : 0 })) },
      }),
      audit: pattern({ events: 1 }),
    };
    registerZmqMetrics({ register, sources: [{ side: 'client', source: src }] });
    const lines = await scrape(register);
    expect(lines.filter(l => l.startsWith('nestjs_zeromq_requests_total'))).toEqual([
      'nestjs_zeromq_requests_total{pattern="sum",side="client",code="OK"} 2',
    ]);
    expect(lines.filter(l => l.startsWith('nestjs_zeromq_events_total'))).toEqual([
      'nestjs_zeromq_events_total{pattern="audit",side="client"} 1',
    ]);
    expect(lines.some(l => l.startsWith('nestjs_zeromq_cancels_total'))).toBe(false);
    expect(lines.some(l => l.startsWith('nestjs_zeromq_timeouts_total'))).toBe(false);
    expect(lines.some(l => l.startsWith('nestjs_zeromq_dropped_total'))).toBe(false);
    // A histogram with observations keeps its empty buckets (they are part of the histogram).
    expect(lines).toContain('nestjs_zeromq_request_duration_seconds_bucket{le="0.001",pattern="sum",side="client"} 0');
    expect(lines.some(l => l.includes('request_duration_seconds') && l.includes('pattern="audit"'))).toBe(false);
  });

  it('a timeout, a cancel and a drop appear in the scrape after they happen', async () => {
    const register = new Registry();
    const src = source();
    src.state.metrics.patterns = { sum: pattern({ requests: 1, ok: 1 }) };
    registerZmqMetrics({ register, sources: [{ side: 'client', source: src }] });
    expect((await scrape(register)).some(l => l.includes('code="TIMEOUT"'))).toBe(false);

    src.state.metrics.patterns = { sum: pattern({ requests: 3, ok: 1, timeouts: 1, cancels: 1 }) };
    src.state.dropped = { lateReply: 4, unknownPeer: 0 };
    const lines = await scrape(register);
    expect(lines).toContain('nestjs_zeromq_requests_total{pattern="sum",side="client",code="TIMEOUT"} 1');
    expect(lines).toContain('nestjs_zeromq_requests_total{pattern="sum",side="client",code="CANCELLED"} 1');
    expect(lines).toContain('nestjs_zeromq_timeouts_total{pattern="sum",side="client"} 1');
    expect(lines).toContain('nestjs_zeromq_dropped_total{side="client",reason="lateReply"} 4');
    expect(lines.some(l => l.includes('reason="unknownPeer"'))).toBe(false);
  });
});

describe('registerZmqMetrics: retries and hedges', () => {
  it('exports per-pattern retries, hedges and hedges won, and the budget refusals by kind, once they occur', async () => {
    const register = new Registry();
    const src = source();
    src.state.metrics.patterns = { get: pattern({ requests: 10, ok: 10, retries: 1, hedges: 3, hedgesWon: 2 }) };
    const resilience = { throttled: 0, retries: 1, retriesDenied: 0, hedges: 3, hedgesDenied: 4, hedgesWon: 2 };
    const withStats = {
      getMetrics: src.getMetrics,
      getStats: () => ({ dropped: {}, resilience: { ...resilience, ejections: 0 } }) as unknown as ZmqStats,
    };
    registerZmqMetrics({ register, sources: [{ side: 'client', source: withStats }] });
    const lines = await scrape(register);
    expect(lines).toContain('nestjs_zeromq_retries_total{pattern="get",side="client"} 1');
    expect(lines).toContain('nestjs_zeromq_hedges_total{pattern="get",side="client"} 3');
    expect(lines).toContain('nestjs_zeromq_hedges_won_total{pattern="get",side="client"} 2');
    expect(lines).toContain('nestjs_zeromq_retries_denied_total{side="client",kind="hedge"} 4');
    expect(lines.some(l => l.startsWith('nestjs_zeromq_retries_denied_total{side="client",kind="retry"}'))).toBe(false);
  });
});

describe('registerZmqMetrics: overload and outliers', () => {
  it('exports the sheds by reason (server and client throttle), abandoned requests, the admission queue and ejections', async () => {
    const register = new Registry();
    const server = source();
    const client = source();
    const admission = {
      state: 'overloaded',
      waiting: 7,
      shed: 5,
      shedByReason: { 'peer-limit': 0, 'queue-age': 4, 'queue-full': 1 },
      abandoned: 2,
    };
    const resilience = {
      throttled: 3,
      retries: 0,
      retriesDenied: 0,
      hedges: 0,
      hedgesDenied: 0,
      hedgesWon: 0,
      ejections: 1,
    };
    registerZmqMetrics({
      register,
      sources: [
        {
          side: 'server',
          source: {
            getMetrics: server.getMetrics,
            getStats: () => ({ dropped: {}, admission }) as unknown as ZmqStats,
          },
        },
        {
          side: 'client',
          source: {
            getMetrics: client.getMetrics,
            getStats: () => ({ dropped: {}, resilience }) as unknown as ZmqStats,
          },
        },
      ],
    });
    const lines = await scrape(register);
    expect(lines).toContain('nestjs_zeromq_shed_total{side="server",reason="queue-age"} 4');
    expect(lines).toContain('nestjs_zeromq_shed_total{side="server",reason="queue-full"} 1');
    expect(lines).toContain('nestjs_zeromq_shed_total{side="client",reason="throttled"} 3');
    expect(lines.some(l => l.includes('reason="peer-limit"'))).toBe(false);
    expect(lines).toContain('nestjs_zeromq_abandoned_total{side="server"} 2');
    expect(lines).toContain('nestjs_zeromq_admission_waiting{side="server"} 7');
    expect(lines).toContain('nestjs_zeromq_ejections_total{side="client"} 1');
  });
});
