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
  objectPayload,
  peakRss,
  Phase,
  Plan,
  SmallPayload,
  smallPayload,
} from './common';

/** What the measurements need from a contender's client. */
export interface Driver {
  call(data: unknown): Promise<unknown>;
  stream(n: number, onItem: (value: unknown) => void): Promise<void>;
  close(): Promise<void> | void;
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

async function sequential(
  driver: Driver,
  plan: Plan,
): Promise<Pick<ClientResult, 'p50Us' | 'p99Us' | 'meanUs' | 'distributionUs'>> {
  for (let i = 0; i < plan.warmup; i++) await echoOnce(driver, smallPayload(i));
  if (plan.sequential === 0) return { p50Us: 0, p99Us: 0, meanUs: 0, distributionUs: [] };
  const micros: number[] = [];
  for (let i = 0; i < plan.sequential; i++) {
    const payload = smallPayload(i);
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

async function main(): Promise<void> {
  const [contender, endpoint, phase, planJson] = process.argv.slice(2) as [string, string, Phase, string];
  if (!isContender(contender)) throw new Error(`unknown contender ${contender}`);
  const plan = JSON.parse(planJson) as Plan;
  exitAfter(plan.phaseTimeoutMs * 5, `bench client ${contender}`);
  const driver = await bounded(connect(contender, endpoint), 10_000, 'connect');
  const limit = plan.phaseTimeoutMs;
  let result: ClientResult;
  if (phase === 'main') {
    const latency = await bounded(sequential(driver, plan), limit, 'sequential');
    const throughput = await bounded(
      saturate(driver, plan.throughput, plan.inFlight, smallPayload),
      limit,
      'throughput',
    );
    await bounded(
      saturate(driver, Math.min(200, plan.throughputLarge), plan.inFlight, largePayload),
      limit,
      'warm-up 64 KiB',
    );
    const throughputLarge = await bounded(
      saturate(driver, plan.throughputLarge, plan.inFlight, largePayload),
      limit,
      'throughput 64 KiB',
    );
    await bounded(
      saturate(driver, Math.min(100, plan.throughputObject), plan.inFlight, objectPayload),
      limit,
      'warm-up 64 KiB objects',
    );
    const throughputObject = await bounded(
      saturate(driver, plan.throughputObject, plan.inFlight, objectPayload),
      limit,
      'throughput 64 KiB objects',
    );
    result = { ...latency, throughput, throughputLarge, throughputObject, peakRss: 0 };
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
