/**
 * What `nestjs-zeromq top` computes and draws from two `$zmq/metrics`
 * snapshots: rates over the interval, percentiles of the interval's
 * histogram (Prometheus-style interpolation), errors by code, the frame.
 */
import { asSnapshot, quantile, rowsOf, ZmqMetricsSnapshot } from '../../lib/cli/top-model';
import { renderTop, uptime } from '../../lib/cli/top-view';

const buckets = (counts: number[]) =>
  [0.001, 0.01, 0.1].map((le, i) => ({ le, count: counts[i]! })).concat([{ le: '+Inf' as any, count: counts[3]! }]);

function snapshot(requests: number, latencyCounts: number[], errors: Record<string, number> = {}): ZmqMetricsSnapshot {
  return {
    serverId: 'math',
    uptimeMs: 3_723_000,
    peers: [{ peerId: 'gateway', endpoint: 'tcp://127.0.0.1:5000' }],
    metrics: {
      patterns: {
        'math.sum': {
          requests,
          events: 0,
          errors,
          cancels: 1,
          timeouts: 0,
          latency: { count: latencyCounts[3]!, sum: 0, buckets: buckets(latencyCounts) },
        },
        '$zmq/metrics': {
          requests: 9,
          events: 0,
          errors: {},
          cancels: 0,
          timeouts: 0,
          latency: { count: 0, sum: 0, buckets: [] },
        },
      },
      peers: 1,
      inFlight: 2,
      queued: 0,
    },
  };
}

describe('quantile', () => {
  it('interpolates inside the bucket, as histogram_quantile does', () => {
    const b = buckets([5, 10, 10, 10]);
    expect(quantile(0.5, b, 10)).toBeCloseTo(0.001);
    expect(quantile(0.99, b, 10)).toBeCloseTo(0.001 + (0.009 * 4.9) / 5);
    expect(quantile(0.25, b, 10)).toBeCloseTo(0.0005);
  });

  it('an observation in +Inf is the largest finite bound; no observations: undefined', () => {
    expect(quantile(0.99, buckets([0, 0, 0, 4]), 4)).toBe(0.1);
    expect(quantile(0.5, buckets([0, 0, 0, 0]), 0)).toBeUndefined();
    expect(quantile(0.5, [{ le: null, count: 3 }], 3)).toBe(0);
  });
});

describe('rowsOf', () => {
  it('rates and percentiles over the interval; totals since start; reserved patterns left out', () => {
    const before = snapshot(100, [50, 100, 100, 100], { E_X: 1 });
    const after = snapshot(300, [50, 280, 300, 300], { E_X: 3, E_Y: 5 });
    const [row, ...rest] = rowsOf(before, after, 2_000);
    expect(rest).toEqual([]);
    expect(row).toMatchObject({
      pattern: 'math.sum',
      requestsPerSec: 100,
      errorsPerSec: 3.5,
      requests: 300,
      errors: 8,
      errorCodes: [
        ['E_Y', 5],
        ['E_X', 3],
      ],
      cancels: 1,
    });
    // 200 in the interval: 180 in (1 ms, 10 ms], 20 in (10 ms, 100 ms].
    expect(row!.p50Ms).toBeCloseTo(1 + (9 * 100) / 180);
    expect(row!.p99Ms).toBeCloseTo(10 + (90 * (198 - 180)) / 20);
  });

  it('the first snapshot has no rates; an idle interval has no percentiles', () => {
    const s = snapshot(100, [50, 100, 100, 100]);
    expect(rowsOf(undefined, s, 0)[0]).toMatchObject({ requestsPerSec: 0, p50Ms: 1 });
    expect(rowsOf(s, s, 1_000)[0]).toMatchObject({ requestsPerSec: 0, p50Ms: undefined, p99Ms: undefined });
  });

  it('[W-1] fields it does not know (a later version adds some) are ignored', () => {
    const known = snapshot(100, [50, 100, 100, 100], { E_X: 1 });
    const later = snapshot(100, [50, 100, 100, 100], { E_X: 1 }) as any;
    later.build = '2.0.0';
    later.metrics.extra = { a: 1 };
    later.metrics.patterns['math.sum'].bytes = 1234;
    later.metrics.patterns['math.sum'].latency.buckets[0].exemplar = 'x';
    later.peers[0].since = 5;
    const next = snapshot(300, [50, 280, 300, 300], { E_X: 3 });
    expect(rowsOf(asSnapshot(later), next, 2_000)).toEqual(rowsOf(asSnapshot(known), next, 2_000));
    expect(rowsOf(undefined, asSnapshot(later), 0)).toEqual(rowsOf(undefined, asSnapshot(known), 0));
  });

  it('asSnapshot names a malformed answer', () => {
    expect(() => asSnapshot('nope')).toThrow('$zmq/metrics answered "nope"');
    expect(() => asSnapshot({ serverId: 'x' })).toThrow('no metrics.patterns');
  });
});

describe('renderTop', () => {
  it('draws the header, the clients and a row per pattern, fitted to the width', () => {
    const rows = rowsOf(snapshot(100, [50, 100, 100, 100]), snapshot(300, [50, 280, 300, 300], { E_X: 2 }), 1_000);
    const frame = {
      endpoint: 'tcp://127.0.0.1:4001',
      snapshot: snapshot(300, [50, 280, 300, 300]),
      rows,
      at: new Date(2026, 11, 1, 10, 2, 3),
      intervalMs: 1000,
    };
    const lines = renderTop(frame, 120, 40);
    expect(lines[0]).toBe('nestjs-zeromq top  tcp://127.0.0.1:4001  server math  up 1h 02m 03s  10:02:03');
    expect(lines[1]).toBe('peers 1  in flight 2  queued 0  (every 1000 ms; q or Ctrl-C quits)');
    expect(lines[2]).toBe('clients: gateway (tcp://127.0.0.1:5000)');
    expect(lines[4]).toMatch(
      /^PATTERN +REQ\/S +EV\/S +P50 +P99 +ERR\/S +TOTAL +ERRORS +CANCELS +TIMEOUTS +ERROR CODES$/,
    );
    expect(lines[5]).toMatch(/^math\.sum +200 +0 +6\.0 ms +91\.0 ms +2\.0 +300 +2 +1 +0 +E_X:2$/);
    for (const l of renderTop(frame, 40, 40)) expect(l.length).toBeLessThanOrEqual(40);
    expect(renderTop(frame, 120, 3)).toHaveLength(3);
    expect(renderTop({ ...frame, error: 'NO_PEER: gone' }, 120, 40)).toContain('! NO_PEER: gone');
  });

  it('uptime reads as a person would say it', () => {
    expect([uptime(6_000), uptime(245_000), uptime(3_723_000)]).toEqual(['6s', '4m 05s', '1h 02m 03s']);
  });
});
