/**
 * `npm run bench` (full) or `npm run bench -- --quick` (smoke run).
 *
 * For each round, and each contender in an order that rotates per round, it
 * starts a server process and a client process on 127.0.0.1 twice: once for
 * latency and throughput (small and 64 KiB), once for the streamed reply, so
 * the stream's peak RSS is measured in fresh processes. It reports the median
 * of the rounds and each figure's ratio to Nest TCP, and writes everything to
 * .bench-results/. It fails (exit 1) only when a contender crashes or gives a
 * wrong answer: no figure is asserted.
 *
 * Options: --quick, --rounds N, --only a,b (contenders), --cpu-prof (each child
 * writes a V8 CPU profile to .bench-results/profiles/, named by contender,
 * role, phase and round), --set key=value,... (override numbers of the plan,
 * e.g. --set sequential=0,throughput=0 to profile the 64 KiB run alone),
 * --metrics-cost (instead of the contenders: metrics on against `metrics:
 * false` on both sides, in the same two processes, 200 alternating batches of
 * 2,000 small echoes at 64 in flight (6 of 1,000 with --quick), and the
 * in-process cost of the metrics hooks; see bench/metrics-ab.ts and README
 * "Metrics"). nest-zmq-nometrics is also a contender for --only.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { metricsHookCost } from './metrics-hooks';
import {
  ClientResult,
  Contender,
  CONTENDERS,
  DEFAULT_CONTENDERS,
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
const BASELINE: Contender = 'nest-tcp';

interface Options {
  quick: boolean;
  metricsCost: boolean;
  overrides: Partial<Plan>;
  cpuProf: boolean;
  rounds: number;
  contenders: Contender[];
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const metricsCost = argv.includes('--metrics-cost');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const rounds = Number(value('--rounds') ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('--rounds takes 1..20');
  const only = value('--only')?.split(',') ?? [...DEFAULT_CONTENDERS];
  const contenders = only.filter(isContender);
  if (contenders.length !== only.length || contenders.length === 0)
    throw new Error(`--only takes some of ${CONTENDERS.join(',')}`);
  const overrides = parseOverrides(value('--set'));
  return { quick, metricsCost, rounds, contenders, cpuProf: argv.includes('--cpu-prof'), overrides };
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
function buildChildren(): void {
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

  /** The rest of the first stdout line starting with `prefix`; rejects if the child exits or `ms` pass first. */
  async line(prefix: string, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    let gone = false;
    void this.exited.then(() => (gone = true));
    for (;;) {
      const found = this.stdout.split('\n').find(l => l.startsWith(`${prefix} `));
      if (found !== undefined && this.stdout.includes(`${found}\n`)) return found.slice(prefix.length + 1);
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

interface PairResult {
  client: ClientResult;
  serverPeakRss: number;
}

async function runPair(contender: Contender, phase: Phase, plan: Plan, profile?: string): Promise<PairResult> {
  const childLimit = plan.phaseTimeoutMs * 5;
  const server = new Child(
    'bench/server.js',
    [contender, String(childLimit)],
    `${contender} server`,
    profile && `${profile}-server`,
  );
  let client: Child | undefined;
  try {
    const endpoint = await server.line('READY', 60_000);
    client = new Child(
      'bench/client.js',
      [contender, endpoint, phase, JSON.stringify(plan)],
      `${contender} client (${phase})`,
      profile && `${profile}-client`,
    );
    const result = JSON.parse(await client.line('RESULT', childLimit)) as ClientResult;
    const clientCode = await client.exit(10_000);
    if (clientCode !== 0) throw client.failure(`exited with ${clientCode}`);
    server.proc.stdin!.end('stop\n');
    const serverPeakRss = Number(await server.line('RSS', 10_000));
    const serverCode = await server.exit(10_000);
    if (serverCode !== 0) throw server.failure(`exited with ${serverCode}`);
    return { client: result, serverPeakRss };
  } finally {
    client?.kill();
    server.kill();
  }
}

/** One figure of the report: how to read it from a round and which way is better. */
interface Metric {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  read: (main: PairResult, stream: PairResult) => number;
  /** Target ratio to Nest TCP for this transport, from the issue. */
  target?: number;
}

const MiB = 1024 * 1024;

const METRICS: Metric[] = [
  { key: 'p50', label: 'sequential p50', unit: 'µs', higherIsBetter: false, read: m => m.client.p50Us!, target: 1.1 },
  { key: 'p99', label: 'sequential p99', unit: 'µs', higherIsBetter: false, read: m => m.client.p99Us!, target: 0.7 },
  { key: 'mean', label: 'sequential mean', unit: 'µs', higherIsBetter: false, read: m => m.client.meanUs! },
  {
    key: 'rps',
    label: 'req/s, 64 in flight',
    unit: 'req/s',
    higherIsBetter: true,
    read: m => m.client.throughput!,
    target: 1.5,
  },
  {
    key: 'rps64k',
    label: 'req/s, 64 in flight, 64 KiB',
    unit: 'req/s',
    higherIsBetter: true,
    read: m => m.client.throughputLarge!,
    target: 1.2,
  },
  {
    key: 'rpsObj64k',
    label: 'req/s, 64 in flight, 64 KiB object',
    unit: 'req/s',
    higherIsBetter: true,
    read: m => m.client.throughputObject!,
  },
  {
    key: 'stream',
    label: 'streamed items/s',
    unit: 'items/s',
    higherIsBetter: true,
    read: (_, s) => s.client.streamItemsPerSec!,
  },
  {
    key: 'serverRss',
    label: 'server peak RSS',
    unit: 'MiB',
    higherIsBetter: false,
    read: m => m.serverPeakRss / MiB,
    target: 1.1,
  },
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

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function format(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 100) return value.toFixed(0);
  return value.toFixed(1);
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

type Figures = Partial<Record<Contender, Record<string, number>>>;

/** Every round, each contender in an order that rotates per round: its figures. */
async function runRounds(options: Options, plan: Plan): Promise<Figures[]> {
  const rounds: Figures[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const order = options.contenders.map((_, i) => options.contenders[(i + round) % options.contenders.length]!);
    const figures: Figures = {};
    for (const contender of order) {
      const profile = (phase: Phase) => (options.cpuProf ? `${contender}-${phase}-r${round + 1}` : undefined);
      const main = await runPair(contender, 'main', plan, profile('main'));
      const stream = await runPair(contender, 'stream', plan, profile('stream'));
      figures[contender] = Object.fromEntries(METRICS.map(m => [m.key, m.read(main, stream)]));
      process.stderr.write(
        `round ${round + 1}/${options.rounds} ${contender}: ${JSON.stringify(figures[contender])}\n`,
      );
    }
    rounds.push(figures);
  }
  return rounds;
}

function mediansOf(contenders: Contender[], rounds: Figures[]): Figures {
  const medians: Figures = {};
  for (const c of contenders) {
    medians[c] = Object.fromEntries(METRICS.map(m => [m.key, median(rounds.map(r => r[c]![m.key]!))]));
  }
  return medians;
}

/** The report's table: a row per figure, a column per contender (with its ratio to BASELINE), and the target. */
function table(contenders: Contender[], medians: Figures): string[] {
  const base = medians[BASELINE];
  const ratio = (c: Contender, key: string) => (base === undefined ? undefined : medians[c]![key]! / base[key]!);
  const lines: string[] = [];
  lines.push(`| figure | ${contenders.join(' | ')} | target (${'nest-zmq'} ÷ ${BASELINE}) |`);
  lines.push(`|---|${contenders.map(() => '---:').join('|')}|---|`);
  for (const m of METRICS) {
    const cells = contenders.map(c => {
      const r = ratio(c, m.key);
      return `${format(medians[c]![m.key]!)}${r === undefined ? '' : ` (${r.toFixed(2)}×)`}`;
    });
    let target = '';
    const ours = contenders.includes('nest-zmq') ? ratio('nest-zmq', m.key) : undefined;
    if (m.target !== undefined) {
      const met =
        ours === undefined ? '' : (m.higherIsBetter ? ours >= m.target : ours <= m.target) ? ' met' : ' **missed**';
      target = `${m.higherIsBetter ? '≥' : '≤'} ${m.target}×${met}`;
    }
    lines.push(`| ${m.label} (${m.unit}) | ${cells.join(' | ')} | ${target} |`);
  }
  return lines;
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

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.metricsCost) return mainMetricsCost(options.quick);
  const plan: Plan = { ...(options.quick ? QUICK_PLAN : FULL_PLAN), ...options.overrides };
  const started = Date.now();
  buildChildren();
  const rounds = await runRounds(options, plan);
  const medians = mediansOf(options.contenders, rounds);

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 1024 ** 3)} GiB`;
  const versions = `Node ${process.versions.node}, @nestjs/core ${versionOf('@nestjs/core')}, @nestjs/microservices ${versionOf('@nestjs/microservices')}, ${zmqVersions()}`;
  const lines: string[] = [];
  lines.push(
    `${options.quick ? 'QUICK smoke run (figures not meaningful)' : 'Benchmark'}: ${new Date().toISOString().slice(0, 10)}, ${machine}`,
  );
  lines.push(versions);
  lines.push(
    `median of ${options.rounds} round(s); ${plan.sequential} sequential round trips after ${plan.warmup} warm-up; ` +
      `${plan.throughput} small / ${plan.throughputLarge} 64 KiB requests at ${plan.inFlight} in flight; stream of ${plan.streamItems} items`,
  );
  lines.push('');
  lines.push(...table(options.contenders, medians));
  lines.push('');
  lines.push(`(ratio to ${BASELINE} in parentheses; took ${Math.round((Date.now() - started) / 1000)} s)`);
  const report = lines.join('\n');
  process.stdout.write(`${report}\n`);

  const dir = RESULTS;
  const record = {
    date: new Date().toISOString(),
    quick: options.quick,
    machine,
    versions,
    plan,
    rounds,
    medians,
    report,
  };
  const name = options.quick ? 'quick' : 'full';
  writeFileSync(join(dir, `${name}-${record.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(record, null, 2));
  writeFileSync(join(dir, `${name}-latest.json`), JSON.stringify(record, null, 2));
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
