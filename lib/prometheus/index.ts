/**
 * `nestjs-zeromq/prometheus`: the transport's metrics as prom-client
 * collectors (prom-client is an optional peer dependency; the package's main
 * entry never imports this file).
 *
 * ```ts
 * import { register } from 'prom-client';
 * import { registerZmqMetrics } from 'nestjs-zeromq/prometheus';
 * registerZmqMetrics({ register, sources: [client, server] });
 * ```
 */
import { register as globalRegistry, Registry } from 'prom-client';
import type { Metric } from 'prom-client';
import {
  dropped,
  histogram,
  patternCounter,
  requestsByCode,
  retriesDenied,
  Sample,
  shed,
  statsBySide,
  SideReading,
  sideGauge,
  sideOf,
  ZmqMetricsSource,
  ZmqSide,
} from './series.js';

export type { ZmqMetricsSource, ZmqSide } from './series.js';
export { CANCELLED_CODE, OK_CODE, TIMEOUT_CODE } from './series.js';

/** Options of {@link registerZmqMetrics}. */
export interface ZmqPrometheusOptions {
  /** Where the collectors go. @default prom-client's global `register` */
  register?: Registry;
  /** The clients and servers to read (`getMetrics()` and `getStats()`) at each scrape. */
  sources: ReadonlyArray<ZmqMetricsSource | { side: ZmqSide; source: ZmqMetricsSource }>;
  /** Prefix of every metric name. @default 'nestjs_zeromq_' */
  prefix?: string;
}

type MetricKind = 'counter' | 'gauge' | 'histogram';

interface Definition {
  name: string;
  help: string;
  type: MetricKind;
  samples: (readings: readonly SideReading[], name: string) => Sample[];
}

/** Every metric the adapter registers (README "Metrics" lists them). */
const DEFINITIONS: readonly Definition[] = [
  {
    name: 'requests_total',
    help: 'Finished requests by pattern, side and outcome code (OK, an error code, CANCELLED, TIMEOUT).',
    type: 'counter',
    samples: requestsByCode,
  },
  {
    name: 'requests_started_total',
    help: 'Requests started (client: sent or refused at once; server: handlers started).',
    type: 'counter',
    samples: r => patternCounter(r, m => m.requests),
  },
  {
    name: 'request_duration_seconds',
    help: 'Client: round trip of a request; server: handler time. Requests with a round trip only.',
    type: 'histogram',
    samples: (r, name) => histogram(name, r, m => m.latency),
  },
  {
    name: 'request_first_chunk_seconds',
    help: 'Client: time from sending a request to its first reply chunk.',
    type: 'histogram',
    samples: (r, name) => histogram(name, r, m => m.firstChunk),
  },
  {
    name: 'events_total',
    help: 'Events sent (client, one per server) or received (server).',
    type: 'counter',
    samples: r => patternCounter(r, m => m.events),
  },
  {
    name: 'cancels_total',
    help: 'Requests cancelled before their end.',
    type: 'counter',
    samples: r => patternCounter(r, m => m.cancels),
  },
  {
    name: 'timeouts_total',
    help: "Requests timed out (client: requestTimeout; server: the caller's deadline).",
    type: 'counter',
    samples: r => patternCounter(r, m => m.timeouts),
  },
  {
    name: 'retries_total',
    help: 'Client: attempts of idempotent calls sent again to another server after their server was lost or shed them.',
    type: 'counter',
    samples: r => patternCounter(r, m => m.retries ?? 0),
  },
  {
    name: 'hedges_total',
    help: 'Client: hedges sent (an idempotent call also sent to another server while its first attempt had not answered).',
    type: 'counter',
    samples: r => patternCounter(r, m => m.hedges ?? 0),
  },
  {
    name: 'hedges_won_total',
    help: 'Client: calls a hedge answered first (the other attempts were cancelled).',
    type: 'counter',
    samples: r => patternCounter(r, m => m.hedgesWon ?? 0),
  },
  {
    name: 'retries_denied_total',
    help: 'Client: retries (kind="retry") and hedges (kind="hedge") not sent because the retry budget was spent.',
    type: 'counter',
    samples: retriesDenied,
  },
  {
    name: 'shed_total',
    help: "Requests refused OVERLOADED: by the server (reason peer-limit, queue-age, queue-full) or by the client's throttle (reason throttled).",
    type: 'counter',
    samples: shed,
  },
  {
    name: 'abandoned_total',
    help: "Server: requests never started because their caller's deadline passed while they waited.",
    type: 'counter',
    samples: r => statsBySide(r, s => s.admission?.abandoned),
  },
  {
    name: 'admission_waiting',
    help: 'Server: requests waiting in the admission queue now.',
    type: 'gauge',
    samples: r => statsBySide(r, s => s.admission?.waiting, false),
  },
  {
    name: 'ejections_total',
    help: 'Client: servers ejected as outliers (their calls timed out or failed while others answered).',
    type: 'counter',
    samples: r => statsBySide(r, s => s.resilience?.ejections),
  },
  { name: 'peers', help: 'Peers with a session now.', type: 'gauge', samples: r => sideGauge(r, m => m.peers) },
  { name: 'in_flight', help: 'Calls in flight now.', type: 'gauge', samples: r => sideGauge(r, m => m.inFlight) },
  {
    name: 'queued',
    help: 'Envelopes waiting in the outbound queues now.',
    type: 'gauge',
    samples: r => sideGauge(r, m => m.queued),
  },
  { name: 'dropped_total', help: 'Dropped messages by reason.', type: 'counter', samples: dropped },
];

/**
 * Registers collectors that read every source's `getMetrics()` (and
 * `getStats()`) at scrape time: nothing is copied in between. Sources of the
 * same side add up (their series have the same labels). Returns a function
 * that removes them again.
 */
export function registerZmqMetrics(options: ZmqPrometheusOptions): () => void {
  const register = options.register ?? globalRegistry;
  const prefix = options.prefix ?? 'nestjs_zeromq_';
  const sources = options.sources.map(s =>
    'source' in s && 'side' in s ? s : { side: sideOf(s as ZmqMetricsSource), source: s as ZmqMetricsSource },
  );
  const read = (): SideReading[] =>
    sources.map(({ side, source }) => ({ side, metrics: source.getMetrics(), stats: source.getStats?.() }));
  const names: string[] = [];
  for (const def of DEFINITIONS) {
    const name = prefix + def.name;
    const metric = {
      name,
      help: def.help,
      type: def.type,
      aggregator: 'sum',
      collect: () => undefined,
      get: () =>
        Promise.resolve({ name, help: def.help, type: def.type, aggregator: 'sum', values: def.samples(read(), name) }),
      reset: () => undefined,
    };
    register.registerMetric(metric as unknown as Metric);
    names.push(name);
  }
  return () => {
    for (const name of names) register.removeSingleMetric(name);
  };
}
