import type { ZmqStats } from '../interfaces/zmq-events.interface.js';
import type { ZmqLatency, ZmqMetrics, ZmqPatternMetrics } from '../interfaces/zmq-metrics.interface.js';

/** Which side a source is: the `side` label. */
export type ZmqSide = 'client' | 'server';

/** One sample, in prom-client's shape. */
export interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** What the adapter reads at scrape time: a ClientZmq or ServerZmq (anything with getMetrics()). */
export interface ZmqMetricsSource {
  getMetrics(): ZmqMetrics;
  getStats?(): ZmqStats;
}

/** A source and its side, read once per scrape. */
export interface SideReading {
  side: ZmqSide;
  metrics: ZmqMetrics;
  stats: ZmqStats | undefined;
}

/** The `code` label of requests that ended with a value or END. */
export const OK_CODE = 'OK';
/** The `code` label of cancelled requests. */
export const CANCELLED_CODE = 'CANCELLED';
/** The `code` label of timed-out requests. */
export const TIMEOUT_CODE = 'TIMEOUT';

/**
 * Adds samples up by their labels (two clients of one process count
 * together). A counter's series appears once it has counted something: a
 * pattern × code that never happened exports nothing rather than a zero.
 */
class Summed {
  private readonly byKey = new Map<string, Sample>();

  constructor(private readonly counter = true) {}

  add(metricName: string | undefined, labels: Record<string, string | number>, value: number): void {
    const key = `${metricName ?? ''}\u0000${JSON.stringify(labels)}`;
    const found = this.byKey.get(key);
    if (found !== undefined) found.value += value;
    else this.byKey.set(key, { value, labels, ...(metricName !== undefined ? { metricName } : {}) });
  }

  get samples(): Sample[] {
    const all = [...this.byKey.values()];
    return this.counter ? all.filter(sample => sample.value !== 0) : all;
  }
}

type PatternCounter = (m: ZmqPatternMetrics) => number;

/** A counter with labels `pattern` and `side`. */
export function patternCounter(readings: readonly SideReading[], pick: PatternCounter): Sample[] {
  const out = new Summed();
  for (const { side, metrics } of readings)
    for (const [pattern, m] of Object.entries(metrics.patterns)) out.add(undefined, { pattern, side }, pick(m));
  return out.samples;
}

/** `requests_total{pattern,side,code}`: finished requests by outcome (OK, an error code, CANCELLED, TIMEOUT). */
export function requestsByCode(readings: readonly SideReading[]): Sample[] {
  const out = new Summed();
  for (const { side, metrics } of readings) {
    for (const [pattern, m] of Object.entries(metrics.patterns)) {
      out.add(undefined, { pattern, side, code: OK_CODE }, m.ok);
      for (const [code, n] of Object.entries(m.errors)) out.add(undefined, { pattern, side, code }, n);
      out.add(undefined, { pattern, side, code: CANCELLED_CODE }, m.cancels);
      out.add(undefined, { pattern, side, code: TIMEOUT_CODE }, m.timeouts);
    }
  }
  return out.samples;
}

/** A histogram's `_bucket` (with `+Inf`), `_sum` and `_count` series, labels `pattern` and `side`. */
export function histogram(
  name: string,
  readings: readonly SideReading[],
  pick: (m: ZmqPatternMetrics) => ZmqLatency | undefined,
): Sample[] {
  const out = new Summed(false);
  for (const { side, metrics } of readings) {
    for (const [pattern, m] of Object.entries(metrics.patterns)) {
      const h = pick(m);
      // A histogram appears with its first observation; its empty buckets are part of it from then on.
      if (h === undefined || h.count === 0) continue;
      for (const b of h.buckets) out.add(`${name}_bucket`, { le: b.le, pattern, side }, b.count);
      out.add(`${name}_bucket`, { le: '+Inf', pattern, side }, h.count);
      out.add(`${name}_sum`, { pattern, side }, h.sum);
      out.add(`${name}_count`, { pattern, side }, h.count);
    }
  }
  return out.samples;
}

/** A gauge with the label `side`. */
export function sideGauge(readings: readonly SideReading[], pick: (m: ZmqMetrics) => number): Sample[] {
  const out = new Summed(false);
  for (const r of readings) out.add(undefined, { side: r.side }, pick(r.metrics));
  return out.samples;
}

/** `dropped_total{side,reason}` from getStats(). */
export function dropped(readings: readonly SideReading[]): Sample[] {
  const out = new Summed();
  for (const { side, stats } of readings) {
    if (stats === undefined) continue;
    for (const [reason, n] of Object.entries(stats.dropped)) out.add(undefined, { side, reason }, n);
  }
  return out.samples;
}

/**
 * `retries_denied_total{side,kind}` from getStats().resilience: retries
 * (`kind="retry"`) and hedges (`kind="hedge"`) the retry budget refused.
 */
export function retriesDenied(readings: readonly SideReading[]): Sample[] {
  const out = new Summed();
  for (const { side, stats } of readings) {
    const resilience = stats?.resilience;
    if (resilience === undefined) continue;
    out.add(undefined, { side, kind: 'retry' }, resilience.retriesDenied);
    out.add(undefined, { side, kind: 'hedge' }, resilience.hedgesDenied);
  }
  return out.samples;
}

/** `shed_total{side,reason}`: requests refused OVERLOADED, by the server (getStats().admission) and the client's throttle. */
export function shed(readings: readonly SideReading[]): Sample[] {
  const out = new Summed();
  for (const { side, stats } of readings) {
    for (const [reason, n] of Object.entries(stats?.admission?.shedByReason ?? {}))
      out.add(undefined, { side, reason }, n);
    if (stats?.resilience !== undefined) out.add(undefined, { side, reason: 'throttled' }, stats.resilience.throttled);
  }
  return out.samples;
}

/** A counter or gauge with the label `side`, read from getStats(); sources without that figure add nothing. */
export function statsBySide(
  readings: readonly SideReading[],
  pick: (stats: ZmqStats) => number | undefined,
  counter = true,
): Sample[] {
  const out = new Summed(counter);
  for (const { side, stats } of readings) {
    const value = stats === undefined ? undefined : pick(stats);
    if (value !== undefined) out.add(undefined, { side }, value);
  }
  return out.samples;
}

/** The side of a source: a ServerZmq listens, a ClientZmq connects. */
export function sideOf(source: ZmqMetricsSource): ZmqSide {
  return typeof (source as { listen?: unknown }).listen === 'function' ? 'server' : 'client';
}
