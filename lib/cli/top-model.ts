/**
 * What `nestjs-zeromq top` computes from the server's metrics: the reserved
 * request `$zmq/metrics` answers a snapshot of cumulative counters and
 * latency histograms; two snapshots a second apart give the rates and the
 * percentiles of that second. Pure functions, no I/O.
 */

/** The reserved pattern a server answers with its {@link ZmqMetricsSnapshot}. */
export const METRICS_PATTERN = '$zmq/metrics';

/** One histogram bucket: how many observations were ≤ `le` seconds (cumulative, as in Prometheus). */
export interface HistogramBucket {
  /** Upper bound in seconds; `+Inf` may come as the string `"+Inf"` or `null` (JSON has no Infinity). */
  le: number | string | null;
  count: number;
}

/** The counters of one pattern (cumulative since the server started). */
export interface PatternMetrics {
  requests: number;
  events: number;
  errors: Record<string, number>;
  cancels: number;
  timeouts: number;
  latency: { count: number; sum: number; buckets: HistogramBucket[] };
}

/** The answer to `$zmq/metrics`. */
export interface ZmqMetricsSnapshot {
  serverId: string;
  uptimeMs: number;
  peers: Array<{ peerId: string; endpoint?: string }>;
  metrics: {
    patterns: Record<string, PatternMetrics>;
    peers: number;
    inFlight: number;
    queued: number;
  };
}

/** One line of the table: a pattern over the last interval. */
export interface TopRow {
  pattern: string;
  requestsPerSec: number;
  eventsPerSec: number;
  /** Handler time percentiles over the interval, in ms; `undefined` when nothing finished in it. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  errorsPerSec: number;
  /** Totals since the server started. */
  requests: number;
  events: number;
  errors: number;
  /** Error counts by code since the server started, largest first. */
  errorCodes: Array<[string, number]>;
  cancels: number;
  timeouts: number;
}

function upperBound(le: HistogramBucket['le']): number {
  if (typeof le === 'number') return le;
  if (le === null || le === '+Inf' || le === 'Inf' || le === '+inf') return Infinity;
  return Number(le);
}

/**
 * The `q` quantile (0..1) of a cumulative histogram with `count`
 * observations, in seconds, interpolated linearly inside its bucket as
 * Prometheus's `histogram_quantile` does; one in the +Inf bucket is the
 * largest finite bound. `undefined` when there are no observations.
 */
export function quantile(q: number, buckets: readonly HistogramBucket[], count: number): number | undefined {
  if (count <= 0 || buckets.length === 0) return undefined;
  const sorted = [...buckets].map(b => ({ le: upperBound(b.le), count: b.count })).sort((a, b) => a.le - b.le);
  const rank = q * count;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const b of sorted) {
    if (b.count >= rank && b.count > lowerCount) {
      if (b.le === Infinity) return lowerLe;
      return lowerLe + ((b.le - lowerLe) * (rank - lowerCount)) / (b.count - lowerCount);
    }
    if (b.le !== Infinity) lowerLe = b.le;
    lowerCount = b.count;
  }
  return lowerLe;
}

/** `cur − prev` per bucket bound (a bound missing before counts from 0). */
function bucketDelta(cur: readonly HistogramBucket[], prev: readonly HistogramBucket[] | undefined): HistogramBucket[] {
  const before = new Map((prev ?? []).map(b => [upperBound(b.le), b.count]));
  return cur.map(b => ({ le: b.le, count: Math.max(0, b.count - (before.get(upperBound(b.le)) ?? 0)) }));
}

const sumOf = (errors: Record<string, number>) => Object.values(errors).reduce((a, b) => a + b, 0);

/**
 * The table for `cur`, with rates over `elapsedMs` since `prev` (the first
 * snapshot has no rates: they are 0, its percentiles are those since start).
 * Reserved `$zmq/` patterns are left out; busiest first.
 */
export function rowsOf(prev: ZmqMetricsSnapshot | undefined, cur: ZmqMetricsSnapshot, elapsedMs: number): TopRow[] {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const rows: TopRow[] = [];
  for (const [pattern, m] of Object.entries(cur.metrics.patterns)) {
    if (pattern.startsWith('$zmq/')) continue;
    const before = prev?.metrics.patterns[pattern];
    const rate = (now: number, then: number | undefined) =>
      prev === undefined ? 0 : Math.max(0, now - (then ?? 0)) / seconds;
    const window = bucketDelta(m.latency.buckets, before?.latency.buckets);
    const windowCount = m.latency.count - (before?.latency.count ?? 0);
    const ms = (q: number) => {
      const s = quantile(q, window, windowCount);
      return s === undefined ? undefined : s * 1000;
    };
    rows.push({
      pattern,
      requestsPerSec: rate(m.requests, before?.requests),
      eventsPerSec: rate(m.events, before?.events),
      p50Ms: ms(0.5),
      p99Ms: ms(0.99),
      errorsPerSec: rate(sumOf(m.errors), before === undefined ? undefined : sumOf(before.errors)),
      requests: m.requests,
      events: m.events,
      errors: sumOf(m.errors),
      errorCodes: Object.entries(m.errors)
        .filter(([, n]) => n > 0)
        .sort((a, b) => b[1] - a[1]),
      cancels: m.cancels,
      timeouts: m.timeouts,
    });
  }
  return rows.sort(
    (a, b) =>
      b.requestsPerSec + b.eventsPerSec - (a.requestsPerSec + a.eventsPerSec) || a.pattern.localeCompare(b.pattern),
  );
}

/** Checks the shape of a `$zmq/metrics` answer; throws a message naming what is wrong. */
export function asSnapshot(value: unknown): ZmqMetricsSnapshot {
  const v = value as Partial<ZmqMetricsSnapshot> | null;
  if (typeof v !== 'object' || v === null) throw new Error(`${METRICS_PATTERN} answered ${JSON.stringify(value)}`);
  if (typeof v.metrics !== 'object' || v.metrics === null || typeof v.metrics.patterns !== 'object') {
    throw new Error(`${METRICS_PATTERN} answered no metrics.patterns`);
  }
  return {
    serverId: String(v.serverId ?? '?'),
    uptimeMs: Number(v.uptimeMs ?? 0),
    peers: v.peers ?? [],
    metrics: v.metrics,
  };
}
