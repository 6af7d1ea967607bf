/**
 * Benchmark client process:
 * `node <build>/bench/client.js <contender> <endpoint> <phase> <plan json>`.
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
  largePayload,
  ObjectPayload,
  objectPayload,
  peakRss,
  Phase,
  Plan,
  SmallPayload,
  smallPayload,
} from './common';
import { HeapSampler, measureCost } from './usage';

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

async function echoOnce(driver: Driver, payload: SmallPayload | string): Promise<void> {
  checkEcho(payload, await driver.call(payload));
}

interface Latency {
  p50Us: number;
  p99Us: number;
  meanUs: number;
  distributionUs: number[];
}

/** `count` round trips one at a time, after `warmup` unmeasured ones. */
async function sequential(
  driver: Driver,
  warmup: number,
  count: number,
  make: (i: number) => SmallPayload | string,
): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await echoOnce(driver, make(i));
  if (count === 0) return { p50Us: 0, p99Us: 0, meanUs: 0, distributionUs: [] };
  const micros: number[] = [];
  for (let i = 0; i < count; i++) {
    const payload = make(i);
    const start = nowNs();
    const reply = await driver.call(payload);
    micros.push(Number(nowNs() - start) / 1e3);
    checkEcho(payload, reply);
  }
  micros.sort((a, b) => a - b);
  const mean = micros.reduce((a, b) => a + b, 0) / micros.length;
  return {
    p50Us: percentile(micros, 50),
    p99Us: percentile(micros, 99),
    meanUs: mean,
    distributionUs: DISTRIBUTION_PERCENTILES.map(p => percentile(micros, p)),
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

/** A saturated run of `total` requests after an unmeasured warm-up of up to `warmup`: requests/s. */
async function throughputOf(
  driver: Driver,
  plan: Plan,
  warmup: number,
  total: number,
  make: (i: number) => SmallPayload | ObjectPayload | string,
  what: string,
): Promise<number> {
  await bounded(saturate(driver, Math.min(warmup, total), plan.inFlight, make), plan.phaseTimeoutMs, `warm-up ${what}`);
  return bounded(saturate(driver, total, plan.inFlight, make), plan.phaseTimeoutMs, what);
}

/** Latency (small and 64 KiB), throughput (small with its CPU and heap cost, 64 KiB, objects). */
async function mainPhase(driver: Driver, plan: Plan, contender: Contender, pid: number | undefined) {
  const limit = plan.phaseTimeoutMs;
  await bounded(saturate(driver, plan.warmupBurst, plan.inFlight, smallPayload), limit, 'warm-up burst');
  await bounded(sequential(driver, plan.warmup, 0, smallPayload), limit, 'warm-up sequential');
  const seqCost = await measureCost(pid, undefined, undefined, false);
  const latency = await bounded(sequential(driver, 0, plan.sequential, smallPayload), limit, 'sequential');
  const { clientCpuUs: seqClientCpuUs, serverCpuUs: seqServerCpuUs } = await seqCost.end(plan.sequential);
  const large = await bounded(
    sequential(driver, Math.min(500, plan.sequentialLarge), plan.sequentialLarge, largePayload),
    limit,
    'sequential 64 KiB',
  );
  await bounded(saturate(driver, Math.min(5_000, plan.throughput), plan.inFlight, smallPayload), limit, 'warm-up');
  const cost = await measureCost(pid, driver.serverAllocated?.bind(driver), new HeapSampler(`${contender}-client`));
  const throughput = await bounded(saturate(driver, plan.throughput, plan.inFlight, smallPayload), limit, 'throughput');
  const perRequest = await cost.end(plan.throughput);
  const [throughputLarge, throughputObject] = [
    await throughputOf(driver, plan, 200, plan.throughputLarge, largePayload, 'throughput 64 KiB'),
    await throughputOf(driver, plan, 100, plan.throughputObject, objectPayload, 'throughput 64 KiB objects'),
  ];
  return {
    ...latency,
    p50LargeUs: large.p50Us,
    p99LargeUs: large.p99Us,
    seqClientCpuUs,
    seqServerCpuUs,
    throughput,
    throughputLarge,
    throughputObject,
    ...perRequest,
  };
}

async function main(): Promise<void> {
  const [contender, endpoint, phase, planJson, serverPid] = process.argv.slice(2) as [
    string,
    string,
    Phase,
    string,
    string | undefined,
  ];
  if (!isContender(contender)) throw new Error(`unknown contender ${contender}`);
  const plan = JSON.parse(planJson) as Plan;
  exitAfter(plan.phaseTimeoutMs * 5, `bench client ${contender}`);
  const driver = await bounded(connect(contender, endpoint), 10_000, 'connect');
  const limit = plan.phaseTimeoutMs;
  let result: ClientResult;
  if (phase === 'main') {
    const pid = serverPid === undefined ? undefined : Number(serverPid);
    result = { ...(await mainPhase(driver, plan, contender, pid)), peakRss: 0 };
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
