/**
 * `npm run bench` (full) or `npm run bench -- --quick` (smoke run).
 *
 * Each round starts a server process and a client process per contender on
 * 127.0.0.1, all at once; warms them up one after another (untimed); then
 * cuts every timed workload into blocks and lets the contenders take turns
 * block by block, in an order that rotates with every block and round
 * (bench/schedule.ts), so that a busy moment of the machine falls on all of
 * them alike. The streamed reply runs afterwards in fresh processes per
 * contender, so its peak RSS is its own. The report (bench/report.ts) gives
 * each figure's median over the rounds with its min–max, the median of its
 * per-round ratios to Nest TCP, and the performance targets with their
 * verdicts (met in how many rounds); everything goes to .bench-results/. It
 * fails (exit 1) only when a contender crashes or gives a wrong answer: no
 * figure is asserted.
 *
 * --neighbour runs a CPU-bound process (bench/neighbour.ts) beside the whole
 * run, killed at its end; only the latency and CPU targets are judged then.
 *
 * Options: --quick, --rounds N, --only a,b (contenders), --cpu-prof (each child
 * writes a V8 CPU profile to .bench-results/profiles/, named by contender,
 * role, phase and round), --set key=value,... (override numbers of the plan,
 * e.g. --set sequential=0,throughput=0 to profile the 64 KiB run alone),
 * --metrics-cost (instead of the contenders: metrics on against `metrics:
 * false` on both sides, in the same two processes, 200 alternating batches of
 * 2,000 small echoes at 64 in flight (6 of 1,000 with --quick), and the
 * in-process cost of the metrics hooks; see bench/metrics-ab.ts and README
 * "Metrics"). nest-zmq-nometrics, nest-tcp-interceptor and nest-zmq-interceptor are contenders for --only.
 *
 * --heap-prof (a sampling heap profile, collected objects included, of the
 * small-payload throughput phase on both sides of the Nest contenders, to
 * .bench-results/profiles/<contender>-{client,server}.heapprofile),
 * --no-flow (skip the flow-control table).
 *
 * --chart-from <record.json> (no run: draws the SVG chart of a saved record).
 *
 * --overload (instead of the contenders: goodput under open-loop load at
 * 0.5×, 1×, 2×, 4× of a 200 µs handler's capacity, nestjs-zeromq against
 * Nest TCP; see bench/overload.ts; with --quick, short phases).
 *
 * --partition (instead of the contenders: a silent partition of one of two
 * servers in the simulated cluster, per routing strategy; needs root, `ip`
 * and `dnsmasq`; see bench/partition.ts; with --quick, one cycle).
 *
 * Besides the report it draws an SVG chart (bench/chart.ts) into
 * .bench-results/, and a full run of every contender also into
 * docs/bench.svg, the picture the README shows.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { GcCount, HEAP_PROF_ENV } from './usage';
import { dirname, join, resolve } from 'node:path';
import { FLOW_FULL, FLOW_QUICK, runFlow } from './flow';
import { metricsHookCost } from './metrics-hooks';
import { runOverload } from './overload';
import { runPartition } from './partition';
import { ChartInput, renderChart } from './chart';
import { BASELINE, Figures, format, median, mediansOf, METRICS, PairResult, table, targetSummary } from './report';
import { interleave, turnOrder } from './schedule';
import { generateCurveKeyPair } from '../lib/security/keys';
import {
  BENCH_CURVE_ENV,
  BenchCurveKeys,
  ClientResult,
  Contender,
  CONTENDERS,
  DEFAULT_CONTENDERS,
  DISTRIBUTION_PERCENTILES,
  FULL_PLAN,
  isContender,
  Phase,
  Plan,
  QUICK_PLAN,
} from './common';

const ROOT = resolve(__dirname, '..');
const RESULTS = join(ROOT, '.bench-results');
/** Where this run's children are compiled to: inside the repo, so `node_modules` resolves. */
const BUILD = join(RESULTS, `build-${process.pid}`);

interface Options {
  quick: boolean;
  metricsCost: boolean;
  overrides: Partial<Plan>;
  cpuProf: boolean;
  heapProf: boolean;
  flow: boolean;
  rounds: number;
  contenders: Contender[];
  /** Runs a CPU-bound neighbour process beside the benchmark (bench/neighbour.ts). */
  neighbour: boolean;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const metricsCost = argv.includes('--metrics-cost');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const rounds = Number(value('--rounds') ?? (quick ? 1 : 5));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds takes 1..20');
  const only = value('--only')?.split(',') ?? [...DEFAULT_CONTENDERS];
  const contenders = only.filter(isContender);
  if (contenders.length !== only.length || contenders.length === 0)
    throw new Error(`--only takes some of ${CONTENDERS.join(',')}`);
  const overrides = parseOverrides(value('--set'));
  const cpuProf = argv.includes('--cpu-prof');
  const heapProf = argv.includes('--heap-prof');
  const flow = !argv.includes('--no-flow');
  const neighbour = argv.includes('--neighbour');
  return { quick, metricsCost, rounds, contenders, cpuProf, heapProf, flow, overrides, neighbour };
}

/** `--set key=value,...`: numbers of the plan to override. */
function parseOverrides(set: string | undefined): Partial<Plan> {
  const overrides: Partial<Plan> = {};
  for (const pair of set?.split(',') ?? []) {
    const [key, raw] = pair.split('=');
    const n = Number(raw);
    if (!(key! in FULL_PLAN) || !Number.isInteger(n) || n < 0) throw new Error(`--set: bad ${pair}`);
    overrides[key as keyof Plan] = n;
  }
  return overrides;
}

/**
 * Transpiles bench/ and lib/ to plain JavaScript in BUILD, so the measured
 * processes carry neither the TypeScript compiler (tens of MiB of RSS) nor
 * its require hook, as a deployed app would not.
 */
let built = false;

function buildChildren(): void {
  if (built) return;
  built = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { compile } = require(join(ROOT, 'test/helpers/ts-register.cjs')) as {
    compile: (source: string, file: string) => string;
  };
  for (const dir of ['bench', 'lib']) {
    for (const entry of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!entry.endsWith('.ts') || entry.endsWith('.d.ts') || entry.endsWith('.spec.ts')) continue;
      const source = join(ROOT, dir, entry);
      const target = join(BUILD, dir, entry.replace(/\.ts$/, '.js'));
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, compile(readFileSync(source, 'utf8'), source));
    }
  }
}

/** One child process with its output collected line by line. */
class Child {
  readonly proc: ChildProcess;
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];

  constructor(
    script: string,
    args: string[],
    private readonly label: string,
    profile?: string,
  ) {
    const flags =
      profile === undefined
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS, 'profiles')}`, `--cpu-prof-name=${profile}.cpuprofile`];
    this.proc = spawn(process.execPath, [...flags, join(BUILD, script), ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.wake();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise(res => this.proc.once('exit', code => res(code)));
    void this.exited.then(() => this.wake());
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /**
   * The rest of the next unread stdout line that is `prefix` or starts with
   * `prefix `; the lines up to it count as read. Rejects if the child exits
   * or `ms` pass first.
   */
  async line(prefix: string, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    let gone = false;
    void this.exited.then(() => (gone = true));
    for (;;) {
      const lines = this.stdout.split('\n');
      const i = lines.findIndex((l, k) => k < lines.length - 1 && (l === prefix || l.startsWith(`${prefix} `)));
      if (i >= 0) {
        this.stdout = lines.slice(i + 1).join('\n');
        return lines[i]!.slice(prefix.length + 1);
      }
      if (gone || Date.now() >= deadline) throw this.failure(`no ${prefix} line${gone ? '' : ` within ${ms} ms`}`);
      await new Promise<void>(res => {
        const t = setTimeout(res, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Writes a line to the child's stdin. */
  send(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  /** Waits for the exit code; kills this child (and only it) if it is still running after `ms`. */
  async exit(ms: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      this.exited,
      new Promise<'timeout'>(res => (timer = setTimeout(() => res('timeout'), ms))),
    ]);
    clearTimeout(timer);
    if (code !== 'timeout') return code;
    this.kill();
    throw this.failure(`did not exit within ${ms} ms: killed`);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }

  failure(what: string): Error {
    return new Error(`${this.label}: ${what}\n--- stderr ---\n${this.stderr.slice(-4000)}`);
  }
}

/** A contender's server process and client process for one phase. */
class Pair {
  private constructor(
    readonly server: Child,
    readonly client: Child,
  ) {}

  /**
   * Starts the server, then (once it serves) the client, which connects and
   * starts the phase. Both exit on their own after `lifetimeMs` at the latest.
   */
  static async start(
    contender: Contender,
    phase: Phase,
    plan: Plan,
    lifetimeMs: number,
    profile?: string,
  ): Promise<Pair> {
    const childLimit = lifetimeMs;
    const server = new Child(
      'bench/server.js',
      [contender, String(childLimit)],
      `${contender} server`,
      profile && `${profile}-server`,
    );
    try {
      const endpoint = await server.line('READY', 60_000);
      const client = new Child(
        'bench/client.js',
        [contender, endpoint, phase, JSON.stringify(plan), String(server.proc.pid), String(childLimit)],
        `${contender} client (${phase})`,
        profile && `${profile}-client`,
      );
      return new Pair(server, client);
    } catch (err) {
      server.kill();
      throw err;
    }
  }

  /** The client's result and the server's peak RSS, once both exited cleanly. */
  async finish(plan: Plan): Promise<PairResult> {
    const { client, server } = this;
    const result = JSON.parse(await client.line('RESULT', plan.phaseTimeoutMs * 5)) as ClientResult;
    const clientCode = await client.exit(10_000);
    if (clientCode !== 0) throw client.failure(`exited with ${clientCode}`);
    server.proc.stdin!.end('stop\n');
    const serverPeakRss = Number(await server.line('RSS', 10_000));
    const serverCode = await server.exit(10_000);
    if (serverCode !== 0) throw server.failure(`exited with ${serverCode}`);
    return { client: result, serverPeakRss };
  }

  /** The server's full garbage collections so far (its `GC` answer to a `gc` line). */
  async serverGc(): Promise<number> {
    this.server.send('gc');
    return (JSON.parse(await this.server.line('GC', 10_000)) as GcCount).major;
  }

  kill(): void {
    this.client.kill();
    this.server.kill();
  }
}

/** A stream phase: fresh processes for one contender, run alone. */
async function runStream(contender: Contender, plan: Plan, profile?: string): Promise<PairResult> {
  const pair = await Pair.start(contender, 'stream', plan, plan.phaseTimeoutMs * 5, profile);
  try {
    return await pair.finish(plan);
  } finally {
    pair.kill();
  }
}

/**
 * A round's main phase: every contender's pair of processes at once, warmed
 * up one after another (untimed), then the timed blocks, the contenders taking
 * turns block by block (bench/schedule.ts).
 */
async function runMain(
  contenders: readonly Contender[],
  plan: Plan,
  round: number,
  profile: (c: Contender) => string | undefined,
): Promise<Map<Contender, PairResult>> {
  const pairs = new Map<Contender, Pair>();
  try {
    // Every pair lives through the warm-ups and blocks of all the others.
    const lifetime = plan.phaseTimeoutMs * 5 * contenders.length;
    for (const c of contenders) pairs.set(c, await Pair.start(c, 'main', plan, lifetime, profile(c)));
    for (const pair of pairs.values()) {
      pair.client.send('warm');
      await pair.client.line('WARM', plan.phaseTimeoutMs * 2);
    }
    const serverGc = new Map<Contender, number>(contenders.map(c => [c, 0]));
    for (const { step, order } of interleave(contenders, plan, round)) {
      for (const c of order) {
        const pair = pairs.get(c)!;
        const gc0 = step.kind === 'seqLarge' ? await pair.serverGc() : 0;
        pair.client.send(`step ${JSON.stringify(step)}`);
        await pair.client.line('DONE', plan.phaseTimeoutMs);
        if (step.kind === 'seqLarge') serverGc.set(c, serverGc.get(c)! + (await pair.serverGc()) - gc0);
      }
    }
    const results = new Map<Contender, PairResult>();
    for (const [c, pair] of pairs) {
      pair.client.send('finish');
      const result = await pair.finish(plan);
      results.set(c, { ...result, serverMajorGcLargePer1k: (serverGc.get(c)! * 1000) / plan.sequentialLarge });
    }
    return results;
  } finally {
    for (const pair of pairs.values()) pair.kill();
  }
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return '?';
  }
}

function zmqVersions(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const zmq = require('zeromq') as { version: string };
    return `zeromq ${versionOf('zeromq')} (libzmq ${zmq.version})`;
  } catch {
    return `zeromq ${versionOf('zeromq')}`;
  }
}

/** Per contender, the sequential latency (µs) at each of DISTRIBUTION_PERCENTILES. */
type Distributions = Partial<Record<Contender, number[]>>;

/**
 * Every round: the main phase of every contender at once (blocks taking
 * turns), then each contender's stream phase alone, in an order that rotates
 * per round. Returns each round's figures (and fills in `distributions`).
 */
async function runRounds(options: Options, plan: Plan, distributions: Distributions[]): Promise<Figures[]> {
  const rounds: Figures[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const order = turnOrder(options.contenders, round);
    const profile = (contender: Contender, phase: Phase) =>
      options.cpuProf ? `${contender}-${phase}-r${round + 1}` : undefined;
    const main = await runMain(order, plan, round, c => profile(c, 'main'));
    const figures: Figures = {};
    const distribution: Distributions = {};
    for (const contender of order) {
      const stream = await runStream(contender, plan, profile(contender, 'stream'));
      figures[contender] = Object.fromEntries(METRICS.map(m => [m.key, m.read(main.get(contender)!, stream)]));
      distribution[contender] = main.get(contender)!.client.distributionUs ?? [];
      process.stderr.write(
        `round ${round + 1}/${options.rounds} ${contender}: ${JSON.stringify(figures[contender])}\n`,
      );
    }
    rounds.push(figures);
    distributions.push(distribution);
  }
  return rounds;
}

/** Per contender, the median of the rounds at each percentile. */
function medianDistributions(contenders: Contender[], rounds: Distributions[]): Distributions {
  const out: Distributions = {};
  for (const c of contenders) {
    const runs = rounds.map(r => r[c] ?? []).filter(d => d.length === DISTRIBUTION_PERCENTILES.length);
    if (runs.length > 0) out[c] = DISTRIBUTION_PERCENTILES.map((_, k) => median(runs.map(d => d[k]!)));
  }
  return out;
}

/** What the chart needs of a record (a run's, or one read back with --chart-from). */
interface ChartRecord {
  date: string;
  quick: boolean;
  machine: string;
  medians: Figures;
  distributions?: Distributions;
  rounds: unknown[];
}

const THROUGHPUT_KEYS = ['rps', 'rps64k', 'rpsObj64k', 'stream'];
const LATENCY_KEYS = ['p50', 'mean', 'p99'];

function chartOf(record: ChartRecord): string {
  const contenders = CONTENDERS.filter(c => record.medians[c] !== undefined);
  const pick = (keys: string[]) => keys.map(k => METRICS.find(m => m.key === k)!);
  const input: ChartInput = {
    title: `nestjs-zeromq benchmark${record.quick ? ' (QUICK smoke run: figures not meaningful)' : ''}`,
    subtitle: `${record.date.slice(0, 10)}, ${record.machine}; median of ${record.rounds.length} round(s); 127.0.0.1, a server and a client process per contender`,
    contenders,
    figures: record.medians,
    throughput: pick(THROUGHPUT_KEYS),
    latency: pick(LATENCY_KEYS),
    percentiles: DISTRIBUTION_PERCENTILES,
    distributions: record.distributions ?? {},
  };
  return renderChart(input);
}

/** Writes the chart beside the results; a full run of every contender also to docs/bench.svg. Returns the paths. */
function writeCharts(record: ChartRecord, name: string, complete: boolean): string[] {
  const svg = chartOf(record);
  mkdirSync(RESULTS, { recursive: true });
  const paths = [join(RESULTS, `${name}-chart.svg`)];
  if (!record.quick && complete) paths.push(join(ROOT, 'docs', 'bench.svg'));
  for (const p of paths) writeFileSync(p, svg);
  return paths;
}

/** Paired ratios of neighbouring batches, their median, and what the hooks cost in-process. */
interface MetricsCost {
  batches: number;
  batchSize: number;
  on: number[];
  off: number[];
  ratios: number[];
  medianRatio: number;
  hooks: { clientNs: number; serverNs: number };
}

/** --metrics-cost: the A/B of bench/metrics-ab.ts. */
async function runMetricsCost(quick: boolean): Promise<MetricsCost> {
  const [batches, batchSize] = quick ? [6, 1_000] : [200, 2_000];
  const server = new Child('bench/metrics-ab.js', ['server'], 'metrics-ab server');
  let client: Child | undefined;
  try {
    const [onEp, offEp] = (await server.line('READY', 60_000)).split(' ');
    client = new Child(
      'bench/metrics-ab.js',
      ['client', onEp!, offEp!, String(batches), String(batchSize)],
      'metrics-ab client',
    );
    const { on, off } = JSON.parse(await client.line('RESULT', 600_000)) as { on: number[]; off: number[] };
    if ((await client.exit(10_000)) !== 0) throw client.failure('failed');
    server.proc.stdin!.end('stop\n');
    await server.exit(10_000);
    const ratios = on.map((r, i) => r / off[i]!);
    return { batches, batchSize, on, off, ratios, medianRatio: median(ratios), hooks: metricsHookCost() };
  } finally {
    client?.kill();
    server.kill();
  }
}

/** The mean of `sorted` without its lowest and highest `cut` fraction. */
function trimmedMean(sorted: number[], cut: number): number {
  const k = Math.floor(sorted.length * cut);
  const kept = sorted.slice(k, sorted.length - k);
  return kept.reduce((sum, x) => sum + x, 0) / kept.length;
}

function metricsCostReport(cost: MetricsCost): string[] {
  const pct = (x: number) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)} %`;
  const total = (xs: number[]) => xs.length / xs.reduce((sum, rps) => sum + 1 / rps, 0); // req/s over all batches
  const rps = median(cost.on);
  const share = (ns: number) => `${((ns / (1e9 / rps)) * 100).toFixed(2)} %`;
  const sorted = [...cost.ratios].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
  return [
    `metrics on against metrics: false (both sides), ${cost.batches} alternating pairs of batches of ` +
      `${cost.batchSize} small echoes at 64 in flight, same processes:`,
    `  req/s with metrics, per pair: median ${pct(cost.medianRatio)} (middle half ${pct(q(0.25))} to ${pct(q(0.75))}), ` +
      `mean of the middle 80 % ${pct(trimmedMean(sorted, 0.1))}`,
    `  req/s over all batches: ${format(total(cost.on))} on, ${format(total(cost.off))} off ` +
      `(${pct(total(cost.on) / total(cost.off))}; one stalled batch moves this, not the pairs)`,
    `  the hooks alone (in-process, on less off): ${cost.hooks.clientNs.toFixed(0)} ns per request on the client, ` +
      `${cost.hooks.serverNs.toFixed(0)} ns on the server: ${share(cost.hooks.clientNs)} and ` +
      `${share(cost.hooks.serverNs)} of the ${format(1e9 / rps / 1000)} µs a request takes at ${format(rps)} req/s`,
  ];
}

/** CURVE on vs off: the `nest-zmq-curve` figures as a ratio of the `nest-zmq` ones (the README quotes them). */
function curveCost(contenders: Contender[], medians: Figures): string[] {
  const on = medians['nest-zmq-curve'];
  const off = medians['nest-zmq'];
  if (!contenders.includes('nest-zmq-curve') || on === undefined || off === undefined) return [];
  const ratio = (key: string) => `${(on[key]! / off[key]!).toFixed(2)}×`;
  return [
    `CURVE on ÷ off (nest-zmq-curve ÷ nest-zmq): req/s at 64 in flight ${ratio('rps')}, ` +
      `sequential p50 ${ratio('p50')}, req/s 64 KiB ${ratio('rps64k')}`,
  ];
}

/** Fresh key pairs per run for the CURVE contender, handed to the children through their environment. */
function shareCurveKeys(): void {
  const curveKeys: BenchCurveKeys = { server: generateCurveKeyPair(), client: generateCurveKeyPair() };
  process.env[BENCH_CURVE_ENV] = JSON.stringify(curveKeys);
}

/** The report's first lines, and the machine and versions they name. */
function reportHead(options: Options, plan: Plan): { machine: string; versions: string; lines: string[] } {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB`;
  const versions = `Node ${process.versions.node}, @nestjs/core ${versionOf('@nestjs/core')}, @nestjs/microservices ${versionOf('@nestjs/microservices')}, ${zmqVersions()}`;
  const lines = [
    `${options.quick ? 'QUICK smoke run (figures not meaningful)' : 'Benchmark'}: ${new Date().toISOString().slice(0, 10)}, ${machine}`,
    versions,
    `median of ${options.rounds} round(s) [min–max over the rounds]; ${plan.sequential} sequential round trips (${plan.sequentialLarge} of 64 KiB, ${plan.sequentialHuge} of 1 MiB) after ${plan.warmupBurst} warm-up echoes at ${plan.inFlight} in flight and ${plan.warmup} sequential; ` +
      `${plan.throughput} small / ${plan.throughputLarge} 64 KiB / ${plan.throughputObject} object requests at ${plan.inFlight} in flight, ` +
      `each workload in ${plan.blocks} blocks taking turns between the contenders; stream of ${plan.streamItems} items`,
    ...(options.neighbour
      ? ['WITH A CPU-BOUND NEIGHBOUR PROCESS beside the benchmark: only the latency and CPU targets are judged']
      : []),
    '',
  ];
  return { machine, versions, lines };
}

/** `--overload` or `--partition`: runs that mode instead of the contenders; false when neither is asked for. */
async function ranResilienceMode(argv: string[], quick: boolean): Promise<boolean> {
  if (argv.includes('--overload')) {
    process.stdout.write(`${await runOverload(quick)}\n`);
    return true;
  }
  if (!argv.includes('--partition')) return false;
  const report = await runPartition(quick);
  if (report === undefined) process.exitCode = 2;
  else process.stdout.write(`${report}\n`);
  return true;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const from = argv.indexOf('--chart-from');
  if (from >= 0) {
    const record = JSON.parse(readFileSync(resolve(argv[from + 1] ?? ''), 'utf8')) as ChartRecord;
    const complete = DEFAULT_CONTENDERS.every(c => record.medians[c] !== undefined);
    const written = writeCharts(record, record.quick ? 'quick' : 'full', complete);
    process.stdout.write(`chart: ${written.map(p => p.replace(`${ROOT}/`, '')).join(', ')}\n`);
    return;
  }
  const options = parseArgs(argv);
  if (options.metricsCost) return mainMetricsCost(options.quick);
  if (await ranResilienceMode(argv, options.quick)) return;
  const neighbour = options.neighbour ? startNeighbour() : undefined;
  try {
    await mainContenders(options);
  } finally {
    neighbour?.kill();
  }
}

/**
 * `--neighbour`: a CPU-bound process (bench/neighbour.ts) beside the
 * benchmark, bounded by its own lifetime and killed when the run ends.
 */
function startNeighbour(): Child {
  buildChildren();
  return new Child('bench/neighbour.js', [String(NEIGHBOUR_LIFETIME_MS)], 'neighbour');
}

/** A run's longest lifetime for the neighbour process, in ms (it exits on its own after this). */
const NEIGHBOUR_LIFETIME_MS = 60 * 60_000;

/** The contenders' rounds, the report and the record. */
async function mainContenders(options: Options): Promise<void> {
  shareCurveKeys();
  if (options.heapProf) {
    mkdirSync(join(RESULTS, 'profiles'), { recursive: true });
    process.env[HEAP_PROF_ENV] = join(RESULTS, 'profiles');
  }
  const plan: Plan = { ...(options.quick ? QUICK_PLAN : FULL_PLAN), ...options.overrides };
  const started = Date.now();
  buildChildren();
  const perRound: Distributions[] = [];
  const rounds = await runRounds(options, plan, perRound);
  const medians = mediansOf(options.contenders, rounds);
  const distributions = medianDistributions(options.contenders, perRound);

  const { machine, versions, lines } = reportHead(options, plan);
  lines.push(...table(options.contenders, rounds, options.neighbour));
  lines.push('', targetSummary(options.contenders, rounds, options.neighbour));
  if (options.flow && options.contenders.includes('nest-zmq')) {
    lines.push('', ...(await runFlow(BUILD, ROOT, options.quick ? FLOW_QUICK : FLOW_FULL)));
  }
  lines.push(
    '',
    `(median per-round ratio to ${BASELINE} in parentheses; took ${Math.round((Date.now() - started) / 1000)} s)`,
  );
  lines.push(...curveCost(options.contenders, medians));
  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);

  const record = {
    date: new Date().toISOString(),
    quick: options.quick,
    neighbour: options.neighbour,
    machine,
    versions,
    plan,
    rounds,
    medians,
    distributions,
    report,
  };
  const name = `${options.quick ? 'quick' : 'full'}${options.neighbour ? '-neighbour' : ''}`;
  writeFileSync(join(RESULTS, `${name}-${record.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(record, null, 2));
  writeFileSync(join(RESULTS, `${name}-latest.json`), JSON.stringify(record, null, 2));
  const complete =
    !options.neighbour &&
    DEFAULT_CONTENDERS.every(c => options.contenders.includes(c)) &&
    Object.keys(options.overrides).length === 0;
  const charts = writeCharts(record, name, complete);
  process.stdout.write(`chart: ${charts.map(p => p.replace(`${ROOT}/`, '')).join(', ')}\n`);
}

async function mainMetricsCost(quick: boolean): Promise<void> {
  buildChildren();
  const cost = await runMetricsCost(quick);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB`;
  const lines = [`Metrics cost: ${new Date().toISOString().slice(0, 10)}, ${machine}`, ...metricsCostReport(cost)];
  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);
  const record = { date: new Date().toISOString(), quick, machine, cost, report };
  writeFileSync(join(RESULTS, 'metrics-cost-latest.json'), JSON.stringify(record, null, 2));
}

main()
  .catch(err => {
    process.stderr.write(`benchmark failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(BUILD, { recursive: true, force: true }));
