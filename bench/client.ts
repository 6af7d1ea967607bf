/**
 * Benchmark client process:
 * `node <build>/bench/client.js <contender> <endpoint> <phase> <plan json> <server pid> [lifetime ms]`.
 *
 * Runs the phase's measurements against a running bench/server.ts, checks
 * every answer, prints one `RESULT <json>` line and exits. A wrong answer or
 * an error exits non-zero.
 */
import {
  checkEcho,
  ClientResult,
  DISTRIBUTION_PERCENTILES,
  Contender,
  exitAfter,
  flavourOf,
  saturate,
  isContender,
  hugePayload,
  largePayload,
  ObjectPayload,
  objectPayload,
  peakRss,
  Phase,
  Plan,
  SmallPayload,
  smallPayload,
} from './common';
import { createInterface } from 'node:readline';
import type { Step, StepKind } from './schedule';
import { GcCounter, HeapSampler, measureCost, PhaseCost, processCpuNs } from './usage';

/** What the measurements need from a contender's client. */
export interface Driver {
  call(data: unknown): Promise<unknown>;
  stream(n: number, onItem: (value: unknown) => void): Promise<void>;
  close(): Promise<void> | void;
  /** The bytes the server's heap has allocated so far (Nest contenders: the `bench:alloc` pattern). */
  serverAllocated?(): Promise<number>;
}

/** Loads only what the contender needs (the raw client holds no Nest). */
async function connect(contender: Contender, endpoint: string): Promise<Driver> {
  if (contender === 'raw-zmq') {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const raw = new (require('./raw-zmq') as typeof import('./raw-zmq')).RawClient(endpoint);
    return { call: data => raw.call(data), stream: (n, onItem) => raw.stream(n, onItem), close: () => raw.close() };
  }
  if (contender === 'nest-grpc') return (require('./grpc') as typeof import('./grpc')).connectGrpcClient(endpoint);
  const nest = require('./nest-client') as typeof import('./nest-client');
  return nest.connectNestClient(flavourOf(contender), endpoint);
}

/** Rejects when `work` takes longer than `ms`. */
function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const nowNs = () => process.hrtime.bigint();
const elapsedSec = (start: bigint) => Number(nowNs() - start) / 1e9;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

interface Latency {
  p50Us: number;
  p99Us: number;
  meanUs: number;
  distributionUs: number[];
}

/** `count` round trips one at a time, each timed: the latencies in µs, in call order. */
async function timedCalls(
  driver: Driver,
  count: number,
  make: (i: number) => SmallPayload | string,
): Promise<number[]> {
  const micros: number[] = [];
  for (let i = 0; i < count; i++) {
    const payload = make(i);
    const start = nowNs();
    const reply = await driver.call(payload);
    micros.push(Number(nowNs() - start) / 1e3);
    checkEcho(payload, reply);
  }
  return micros;
}

/** p50, p99, mean and the distribution of a set of latencies (all zero when there is none). */
function latencyOf(micros: number[]): Latency {
  if (micros.length === 0) return { p50Us: 0, p99Us: 0, meanUs: 0, distributionUs: [] };
  const sorted = [...micros].sort((a, b) => a - b);
  return {
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    meanUs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    distributionUs: DISTRIBUTION_PERCENTILES.map(p => percentile(sorted, p)),
  };
}

async function streamed(driver: Driver, n: number): Promise<number> {
  if (n === 0) return 0;
  let expected = 0;
  let wrong: unknown;
  const start = nowNs();
  await driver.stream(n, value => {
    if (value !== expected && wrong === undefined) wrong = value;
    expected++;
  });
  const seconds = elapsedSec(start);
  if (wrong !== undefined || expected !== n) {
    throw new Error(`stream: got ${expected} items of ${n}, first wrong item ${JSON.stringify(wrong)}`);
  }
  return n / seconds;
}

/** The payload of each timed workload. */
const PAYLOADS: Record<StepKind, (i: number) => SmallPayload | ObjectPayload | string> = {
  seq: smallPayload,
  seqLarge: largePayload,
  seqHuge: hugePayload,
  rps: smallPayload,
  rpsLarge: largePayload,
  rpsObj: objectPayload,
};

/**
 * Every workload's warm-up, untimed: small echoes at `inFlight` and one at a
 * time, then each timed workload's payload a few hundred times, so the JIT has
 * compiled every path a block takes before the first block is timed.
 */
async function warmUp(driver: Driver, plan: Plan): Promise<void> {
  const limit = plan.phaseTimeoutMs;
  await bounded(saturate(driver, plan.warmupBurst, plan.inFlight, smallPayload), limit, 'warm-up burst');
  await bounded(timedCalls(driver, plan.warmup, smallPayload), limit, 'warm-up sequential');
  await bounded(timedCalls(driver, Math.min(500, plan.sequentialLarge), largePayload), limit, 'warm-up 64 KiB');
  await bounded(timedCalls(driver, Math.min(50, plan.sequentialHuge), hugePayload), limit, 'warm-up 1 MiB');
  const burst = (n: number, kind: StepKind) => bounded(saturate(driver, n, plan.inFlight, PAYLOADS[kind]), limit, kind);
  await burst(Math.min(5_000, plan.throughput), 'rps');
  await burst(Math.min(200, plan.throughputLarge), 'rpsLarge');
  await burst(Math.min(100, plan.throughputObject), 'rpsObj');
}

/** What the blocks of the main phase add up to. */
class Totals {
  readonly latencies: Record<'seq' | 'seqLarge' | 'seqHuge', number[]> = { seq: [], seqLarge: [], seqHuge: [] };
  /** Per throughput workload: requests and seconds over its blocks. */
  readonly rate: Record<'rps' | 'rpsLarge' | 'rpsObj', { requests: number; seconds: number }> = {
    rps: { requests: 0, seconds: 0 },
    rpsLarge: { requests: 0, seconds: 0 },
    rpsObj: { requests: 0, seconds: 0 },
  };
  /** Full garbage collections of this process during the 64 KiB sequential blocks. */
  majorGcLarge = 0;
  /** CPU of the small sequential blocks, all threads, ns. */
  seqCpu = { client: 0, server: 0 };
  /** Cost of the small throughput blocks, summed (per-request figures × requests). */
  readonly cost: Record<keyof PhaseCost, number> = {
    clientCpuUs: 0,
    serverCpuUs: 0,
    clientMainCpuUs: 0,
    serverMainCpuUs: 0,
    clientAllocBytes: 0,
    serverAllocBytes: 0,
  };

  perRequestCost(): PhaseCost {
    const n = this.rate.rps.requests;
    const out = { ...this.cost };
    for (const key of Object.keys(out) as Array<keyof PhaseCost>) out[key] = out[key] / n;
    return out;
  }
}

/** Runs one block of a workload and adds it to `totals`. */
async function runStep(driver: Driver, plan: Plan, step: Step, totals: Totals, ctx: StepContext): Promise<void> {
  const limit = plan.phaseTimeoutMs;
  const what = `${step.kind} block ${step.block + 1}`;
  if (step.kind === 'seq' || step.kind === 'seqLarge' || step.kind === 'seqHuge') {
    const make = PAYLOADS[step.kind] as (i: number) => SmallPayload | string;
    const cpu0 = step.kind === 'seq' ? ctx.cpu() : undefined;
    const gc0 = ctx.gc.read().major;
    const micros = await bounded(timedCalls(driver, step.count, make), limit, what);
    // GC entries reach their observer on a timer, after the block.
    await new Promise(resolve => setTimeout(resolve, 1));
    if (step.kind === 'seqLarge') totals.majorGcLarge += ctx.gc.read().major - gc0;
    if (cpu0 !== undefined) {
      const cpu1 = ctx.cpu();
      totals.seqCpu.client += cpu1.client - cpu0.client;
      totals.seqCpu.server += cpu1.server - cpu0.server;
    }
    totals.latencies[step.kind].push(...micros);
    return;
  }
  const cost =
    step.kind === 'rps'
      ? await measureCost(ctx.serverPid, driver.serverAllocated?.bind(driver), ctx.sampler(step.block))
      : undefined;
  const start = nowNs();
  await bounded(saturate(driver, step.count, plan.inFlight, PAYLOADS[step.kind]), limit, what);
  const rate = totals.rate[step.kind];
  rate.seconds += elapsedSec(start);
  rate.requests += step.count;
  if (cost !== undefined) {
    const perRequest = await cost.end(step.count);
    for (const key of Object.keys(perRequest) as Array<keyof PhaseCost>) {
      totals.cost[key] += perRequest[key] * step.count;
    }
  }
}

/** What a step needs besides the driver: the server's pid and CPU, and the heap sampler of --heap-prof. */
interface StepContext {
  serverPid: number | undefined;
  cpu(): { client: number; server: number };
  /** The sampler for a block of the small throughput workload: the first block's only. */
  sampler(block: number): HeapSampler | undefined;
  gc: GcCounter;
}

function stepContext(contender: Contender, serverPid: number | undefined): StepContext {
  return {
    serverPid,
    cpu: () => ({
      client: processCpuNs(process.pid)?.all ?? Number.NaN,
      server: serverPid === undefined ? Number.NaN : (processCpuNs(serverPid)?.all ?? Number.NaN),
    }),
    sampler: block => (block === 0 ? new HeapSampler(`${contender}-client`) : undefined),
    gc: new GcCounter(),
  };
}

/** The main phase's result from its blocks. */
function mainResult(totals: Totals, plan: Plan): ClientResult {
  const small = latencyOf(totals.latencies.seq);
  const large = latencyOf(totals.latencies.seqLarge);
  const huge = latencyOf(totals.latencies.seqHuge);
  const rate = (r: { requests: number; seconds: number }) => (r.requests === 0 ? 0 : r.requests / r.seconds);
  return {
    ...small,
    p50LargeUs: large.p50Us,
    p99LargeUs: large.p99Us,
    majorGcLargePer1k: (totals.majorGcLarge * 1000) / Math.max(1, totals.latencies.seqLarge.length),
    p50HugeUs: huge.p50Us,
    p99HugeUs: huge.p99Us,
    seqClientCpuUs: totals.seqCpu.client / 1000 / plan.sequential,
    seqServerCpuUs: totals.seqCpu.server / 1000 / plan.sequential,
    throughput: rate(totals.rate.rps),
    throughputLarge: rate(totals.rate.rpsLarge),
    throughputObject: rate(totals.rate.rpsObj),
    ...totals.perRequestCost(),
    peakRss: 0,
  };
}

/**
 * The main phase, driven by run.ts over stdin, one line at a time: `warm`
 * runs the warm-up and answers `WARM`; `step <json>` runs that block and
 * answers `DONE <kind> <block>`; `finish` ends the phase with its `RESULT`.
 * The runner warms the contenders one after another and makes their blocks
 * take turns (bench/schedule.ts).
 */
async function mainPhase(driver: Driver, plan: Plan, contender: Contender, serverPid: number | undefined) {
  const totals = new Totals();
  const ctx = stepContext(contender, serverPid);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'finish') return mainResult(totals, plan);
    if (line === 'warm') {
      await warmUp(driver, plan);
      process.stdout.write('WARM\n');
      continue;
    }
    const step = JSON.parse(line.slice('step '.length)) as Step;
    await runStep(driver, plan, step, totals, ctx);
    process.stdout.write(`DONE ${step.kind} ${step.block}\n`);
  }
  throw new Error('stdin closed before finish');
}

async function main(): Promise<void> {
  const [contender, endpoint, phase, planJson, serverPid, lifetime] = process.argv.slice(2) as [
    string,
    string,
    Phase,
    string,
    string | undefined,
    string | undefined,
  ];
  if (!isContender(contender)) throw new Error(`unknown contender ${contender}`);
  const plan = JSON.parse(planJson) as Plan;
  exitAfter(lifetime === undefined ? plan.phaseTimeoutMs * 5 : Number(lifetime), `bench client ${contender}`);
  const driver = await bounded(connect(contender, endpoint), 10_000, 'connect');
  const limit = plan.phaseTimeoutMs;
  let result: ClientResult;
  if (phase === 'main') {
    const pid = serverPid === undefined ? undefined : Number(serverPid);
    result = await mainPhase(driver, plan, contender, pid);
  } else {
    await bounded(streamed(driver, Math.min(1_000, plan.streamItems)), limit, 'warm-up stream');
    result = { streamItemsPerSec: await bounded(streamed(driver, plan.streamItems), limit, 'stream'), peakRss: 0 };
  }
  result.peakRss = peakRss();
  await driver.close();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(process.exitCode ?? 0);
}

main().catch(err => {
  process.stderr.write(`bench client failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
