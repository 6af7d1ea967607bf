/**
 * The benchmark's figures and how the report reads them (pure: no process,
 * no clock): each figure per round, its median and spread over the rounds,
 * its ratio to Nest TCP round by round, and whether the performance targets
 * are met. run.ts runs the rounds and prints what this module formats.
 */
import type { ClientResult, Contender } from './common';

/** What one contender's pair of processes reported in one round. */
export interface PairResult {
  client: ClientResult;
  serverPeakRss: number;
  /** Full (mark-compact) garbage collections of the server per 1,000 sequential 64 KiB round trips. */
  serverMajorGcLargePer1k?: number;
}

/** The contender every ratio is taken against. */
export const BASELINE: Contender = 'nest-tcp';

/**
 * A target for nest-zmq: its figure ÷ the named contender's at most (lower is
 * better) or at least (higher is better) `ratio`. `neighbour`: the target
 * also holds with a CPU-bound neighbour process beside the benchmark (the
 * latency and CPU figures); the others are judged on a quiet machine only.
 */
export interface Target {
  ratio: number;
  against: Contender;
  neighbour?: boolean;
}

/** One figure of the report: how to read it from a round and which way is better. */
export interface Metric {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  read: (main: PairResult, stream: PairResult) => number;
  targets?: Target[];
}

const MiB = 1024 * 1024;

/** A figure the client reports as `field` (NaN where a contender does not measure it). */
function reported(
  higherIsBetter: boolean,
): (key: string, label: string, unit: string, field: keyof ClientResult, targets?: Target[]) => Metric {
  return (key, label, unit, field, targets) => ({
    key,
    label,
    unit,
    higherIsBetter,
    read: m => (m.client[field] as number | undefined) ?? Number.NaN,
    ...(targets !== undefined ? { targets } : {}),
  });
}

/** Lower is better (latency, CPU, memory). */
const lower = reported(false);
/** Higher is better (throughput). */
const higher = reported(true);

const tcp = (ratio: number, neighbour = false): Target => ({ ratio, against: 'nest-tcp', neighbour });

/**
 * The report's rows, in order. The nest-tcp targets are the performance
 * issue's (every figure ahead of Nest TCP in one run); the raw-zmq, gRPC and
 * RSS ones are older targets kept beside them.
 */
export const METRICS: Metric[] = [
  lower('p50', 'sequential p50', 'µs', 'p50Us', [
    tcp(1, true),
    { ratio: 1.15, against: 'raw-zmq' },
    { ratio: 1, against: 'nest-grpc' },
  ]),
  lower('p99', 'sequential p99', 'µs', 'p99Us', [tcp(1, true)]),
  lower('mean', 'sequential mean', 'µs', 'meanUs'),
  lower('seqClientCpu', 'client CPU per request, sequential', 'µs', 'seqClientCpuUs', [tcp(1.2, true)]),
  lower('seqServerCpu', 'server CPU per request, sequential', 'µs', 'seqServerCpuUs', [tcp(1.2, true)]),
  lower('p50Large', 'sequential p50, 64 KiB', 'µs', 'p50LargeUs'),
  lower('p99Large', 'sequential p99, 64 KiB', 'µs', 'p99LargeUs', [tcp(0.7, true)]),
  {
    key: 'gcLargeServer',
    label: 'server full GCs per 1,000 sequential 64 KiB calls',
    unit: 'count',
    higherIsBetter: false,
    read: m => m.serverMajorGcLargePer1k ?? Number.NaN,
  },
  lower('gcLargeClient', 'client full GCs per 1,000 sequential 64 KiB calls', 'count', 'majorGcLargePer1k'),
  lower('p50Huge', 'sequential p50, 1 MiB', 'µs', 'p50HugeUs'),
  lower('p99Huge', 'sequential p99, 1 MiB', 'µs', 'p99HugeUs', [tcp(0.7, true)]),
  higher('rps', 'req/s, 64 in flight', 'req/s', 'throughput', [tcp(2), { ratio: 3, against: 'nest-grpc' }]),
  higher('rps64k', 'req/s, 64 in flight, 64 KiB', 'req/s', 'throughputLarge', [tcp(2)]),
  higher('rpsObj64k', 'req/s, 64 in flight, 64 KiB object', 'req/s', 'throughputObject', [tcp(1)]),
  {
    key: 'stream',
    label: 'streamed items/s',
    unit: 'items/s',
    higherIsBetter: true,
    read: (_, s) => s.client.streamItemsPerSec ?? Number.NaN,
    targets: [tcp(1)],
  },
  {
    key: 'serverRss',
    label: 'server peak RSS',
    unit: 'MiB',
    higherIsBetter: false,
    read: m => m.serverPeakRss / MiB,
    targets: [tcp(1.1)],
  },
  lower('clientCpu', 'client CPU per request, 64 in flight', 'µs', 'clientCpuUs'),
  lower('serverCpu', 'server CPU per request, 64 in flight', 'µs', 'serverCpuUs'),
  lower('clientMainCpu', 'client CPU per request, 64 in flight: main thread', 'µs', 'clientMainCpuUs'),
  lower('serverMainCpu', 'server CPU per request, 64 in flight: main thread', 'µs', 'serverMainCpuUs'),
  lower('clientAlloc', 'client heap allocated per request, 64 in flight', 'B', 'clientAllocBytes'),
  lower('serverAlloc', 'server heap allocated per request, 64 in flight', 'B', 'serverAllocBytes'),
  { key: 'clientRss', label: 'client peak RSS', unit: 'MiB', higherIsBetter: false, read: m => m.client.peakRss / MiB },
  {
    key: 'streamServerRss',
    label: 'stream: server peak RSS',
    unit: 'MiB',
    higherIsBetter: false,
    read: (_, s) => s.serverPeakRss / MiB,
  },
  {
    key: 'streamClientRss',
    label: 'stream: client peak RSS',
    unit: 'MiB',
    higherIsBetter: false,
    read: (_, s) => s.client.peakRss / MiB,
  },
];

/** Per contender, figure key → value: one round's figures, or the medians of several. */
export type Figures = Partial<Record<Contender, Record<string, number>>>;

/** The median of the finite values (NaN when there is none). */
export function median(values: number[]): number {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The smallest and largest finite value (NaN, NaN when there is none). */
export function spread(values: number[]): [number, number] {
  const s = values.filter(Number.isFinite);
  return s.length === 0 ? [Number.NaN, Number.NaN] : [Math.min(...s), Math.max(...s)];
}

/** A figure as the report prints it: thousands separated, three significant digits below 1,000, `—` for none. */
export function format(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 100) return value.toFixed(0);
  return value.toFixed(1);
}

/** Per contender, the median of the rounds of every figure. */
export function mediansOf(contenders: readonly Contender[], rounds: Figures[]): Figures {
  const medians: Figures = {};
  for (const c of contenders) {
    medians[c] = Object.fromEntries(METRICS.map(m => [m.key, median(rounds.map(r => r[c]?.[m.key] ?? Number.NaN))]));
  }
  return medians;
}

/** One figure's ratio `ours ÷ theirs` in every round where both measured it, its median and range. */
export interface RatioStats {
  perRound: number[];
  median: number;
  min: number;
  max: number;
}

export function ratioStats(rounds: Figures[], key: string, ours: Contender, theirs: Contender): RatioStats {
  const perRound = rounds
    .map(r => (r[ours]?.[key] ?? Number.NaN) / (r[theirs]?.[key] ?? Number.NaN))
    .filter(Number.isFinite);
  const [min, max] = spread(perRound);
  return { perRound, median: median(perRound), min, max };
}

/** Whether `ratio` meets the target of a figure (lower or higher being better). */
export function meets(ratio: number, goal: number, higherIsBetter: boolean): boolean {
  return higherIsBetter ? ratio >= goal : ratio <= goal;
}

/**
 * A target's verdict: the median of the per-round ratios against the goal,
 * their range, and in how many rounds the goal was met; `met` is the median's
 * verdict, `undefined` where the figure is missing or the target is not judged.
 */
export interface Verdict {
  text: string;
  met: boolean | undefined;
}

export function verdict(metric: Metric, target: Target, rounds: Figures[], neighbour: boolean): Verdict {
  const head = `${metric.higherIsBetter ? '≥' : '≤'} ${target.ratio}× ${target.against}`;
  if (neighbour && target.neighbour !== true) return { text: `${head}: not judged with a neighbour`, met: undefined };
  const stats = ratioStats(rounds, metric.key, 'nest-zmq', target.against);
  if (stats.perRound.length === 0) return { text: head, met: undefined };
  const met = meets(stats.median, target.ratio, metric.higherIsBetter);
  const inRounds = stats.perRound.filter(r => meets(r, target.ratio, metric.higherIsBetter)).length;
  const range = stats.perRound.length > 1 ? ` (${stats.min.toFixed(2)}–${stats.max.toFixed(2)})` : '';
  return {
    text: `${head}: ${stats.median.toFixed(2)}×${range} ${met ? 'met' : '**not met**'}, ${inRounds}/${stats.perRound.length} rounds`,
    met,
  };
}

/** One cell: the median, its min–max over the rounds, and the median of the per-round ratios to BASELINE. */
function cell(rounds: Figures[], medians: Figures, c: Contender, key: string): string {
  const values = rounds.map(r => r[c]?.[key] ?? Number.NaN);
  const [lo, hi] = spread(values);
  const range = rounds.length > 1 && Number.isFinite(lo) ? ` [${format(lo)}–${format(hi)}]` : '';
  const r = ratioStats(rounds, key, c, BASELINE);
  const ratio = r.perRound.length > 0 ? ` (${r.median.toFixed(2)}×)` : '';
  return `${format(medians[c]?.[key] ?? Number.NaN)}${range}${ratio}`;
}

/**
 * The report's table: a row per figure, a column per contender (median
 * [min–max over the rounds] (median per-round ratio to BASELINE)), and the
 * targets of nest-zmq with their verdicts.
 */
export function table(contenders: readonly Contender[], rounds: Figures[], neighbour = false): string[] {
  const medians = mediansOf(contenders, rounds);
  const lines = [
    `| figure | ${contenders.join(' | ')} | target (nest-zmq ÷ contender, median of the per-round ratios) |`,
    `|---|${contenders.map(() => '---:').join('|')}|---|`,
  ];
  for (const m of METRICS) {
    const cells = contenders.map(c => cell(rounds, medians, c, m.key));
    const targets = contenders.includes('nest-zmq')
      ? (m.targets ?? []).filter(t => contenders.includes(t.against)).map(t => verdict(m, t, rounds, neighbour).text)
      : [];
    lines.push(`| ${m.label} (${m.unit}) | ${cells.join(' | ')} | ${targets.join('; ')} |`);
  }
  return lines;
}

/** The targets met and judged, for the report's summary line. */
export function targetSummary(contenders: readonly Contender[], rounds: Figures[], neighbour = false): string {
  let judged = 0;
  let met = 0;
  const missed: string[] = [];
  for (const m of METRICS) {
    for (const t of m.targets ?? []) {
      if (!contenders.includes(t.against) || !contenders.includes('nest-zmq')) continue;
      const v = verdict(m, t, rounds, neighbour);
      if (v.met === undefined) continue;
      judged++;
      if (v.met) met++;
      else missed.push(`${m.label} vs ${t.against}`);
    }
  }
  return `targets met: ${met} of ${judged}${missed.length > 0 ? `; not met: ${missed.join(', ')}` : ''}`;
}
