/**
 * What the benchmark's processes share: contender names, the workload plan,
 * payloads and their checks, and peak-RSS reading.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The contenders, each run as one server process and one client process;
 * `nest-zmq-msgpack` is this transport with `codec: 'msgpack'` on both sides,
 * `nest-grpc` Nest's gRPC transport (bench/grpc.ts), `nest-zmq-nometrics` this transport with
 * `metrics: false` on both sides (run with `--metrics-cost`, or named in `--only`; not in a default run),
 * `nest-zmq-curve` with CURVE on both sides (keys from BENCH_CURVE, below);
 * `nest-tcp-interceptor` and `nest-zmq-interceptor` serve the echo behind a global pass-through interceptor
 * (what many Nest apps have: every reply is then an Observable), named in `--only`.
 */
export const CONTENDERS = [
  'raw-zmq',
  'nest-tcp',
  'nest-grpc',
  'nest-zmq',
  'nest-zmq-msgpack',
  'nest-zmq-nometrics',
  'nest-zmq-curve',
  'nest-tcp-interceptor',
  'nest-zmq-interceptor',
] as const;
export type Contender = (typeof CONTENDERS)[number];

/** What a plain `npm run bench` runs. */
export const DEFAULT_CONTENDERS: readonly Contender[] = [
  'raw-zmq',
  'nest-tcp',
  'nest-grpc',
  'nest-zmq',
  'nest-zmq-msgpack',
  'nest-zmq-curve',
];

/** The transport flavour of a Nest contender, for the server and client processes. */
export type NestFlavour =
  'tcp' | 'zmq' | 'zmq-msgpack' | 'zmq-nometrics' | 'zmq-curve' | 'tcp-interceptor' | 'zmq-interceptor';

export function flavourOf(contender: Exclude<Contender, 'raw-zmq' | 'nest-grpc'>): NestFlavour {
  return contender.slice('nest-'.length) as NestFlavour;
}

/** The key pairs of the CURVE contender: run.ts makes them per run and hands them to its children. */
export interface BenchCurveKeys {
  server: { publicKey: string; secretKey: string };
  client: { publicKey: string; secretKey: string };
}

/** The environment variable that carries {@link BenchCurveKeys} as JSON. */
export const BENCH_CURVE_ENV = 'BENCH_CURVE';

export function benchCurveKeys(): BenchCurveKeys {
  const json = process.env[BENCH_CURVE_ENV];
  if (json === undefined) throw new Error(`${BENCH_CURVE_ENV} is not set (run.ts sets it)`);
  return JSON.parse(json) as BenchCurveKeys;
}

export function isContender(value: string | undefined): value is Contender {
  return (CONTENDERS as readonly string[]).includes(value ?? '');
}

/** Which measurements one client process runs (see run.ts for why two). */
export type Phase = 'main' | 'stream';

export interface Plan {
  /** Echoes at `inFlight` before anything is measured: the JIT compiles every contender's request path first. */
  warmupBurst: number;
  /** Sequential round trips before the timed ones. */
  warmup: number;
  /** Sequential round trips timed one by one. */
  sequential: number;
  /** Sequential round trips of a 64 KiB string, timed one by one (after up to 500 unmeasured). */
  sequentialLarge: number;
  /** Sequential round trips of a 1 MiB string, timed one by one (after up to 50 unmeasured). */
  sequentialHuge: number;
  inFlight: number;
  /** Small-payload requests for the throughput figure. */
  throughput: number;
  /** 64 KiB requests for the large-payload throughput figure. */
  throughputLarge: number;
  /** 64 KiB object requests (records, not one string) for the codec figure. */
  throughputObject: number;
  /** Items of the streamed reply. */
  streamItems: number;
  /** Upper bound for one measurement, in ms: a stuck contender fails instead of hanging. */
  phaseTimeoutMs: number;
  /** Blocks each timed workload is cut into; the contenders take turns block by block (bench/schedule.ts). */
  blocks: number;
}

export const FULL_PLAN: Plan = {
  warmupBurst: 10_000,
  warmup: 10_000,
  sequential: 5_000,
  sequentialLarge: 2_000,
  sequentialHuge: 300,
  inFlight: 64,
  throughput: 20_000,
  throughputLarge: 20_000,
  throughputObject: 5_000,
  streamItems: 100_000,
  phaseTimeoutMs: 120_000,
  blocks: 5,
};

export const QUICK_PLAN: Plan = {
  warmupBurst: 500,
  warmup: 50,
  sequential: 300,
  sequentialLarge: 50,
  sequentialHuge: 5,
  inFlight: 64,
  throughput: 2_000,
  throughputLarge: 200,
  throughputObject: 100,
  streamItems: 10_000,
  phaseTimeoutMs: 30_000,
  blocks: 2,
};

/** The percentiles of the latency distribution the client reports (and the chart draws). */
export const DISTRIBUTION_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9] as const;

/** What a client process prints on its `RESULT` line. */
export interface ClientResult {
  p50Us?: number;
  p99Us?: number;
  meanUs?: number;
  /** The sequential round trips' latency at each of {@link DISTRIBUTION_PERCENTILES}, in µs. */
  distributionUs?: number[];
  /** The sequential round trips of a 64 KiB string. */
  p50LargeUs?: number;
  p99LargeUs?: number;
  /** Full (mark-compact) garbage collections of the client per 1,000 sequential 64 KiB round trips. */
  majorGcLargePer1k?: number;
  /** The sequential round trips of a 1 MiB string. */
  p50HugeUs?: number;
  p99HugeUs?: number;
  /** CPU per request of the (small) sequential round trips, all threads (bench/usage.ts). */
  seqClientCpuUs?: number;
  seqServerCpuUs?: number;
  throughput?: number;
  throughputLarge?: number;
  throughputObject?: number;
  streamItemsPerSec?: number;
  /** Per request of the small-payload throughput phase (bench/usage.ts); NaN where not measured. */
  clientCpuUs?: number;
  serverCpuUs?: number;
  clientMainCpuUs?: number;
  serverMainCpuUs?: number;
  clientAllocBytes?: number;
  serverAllocBytes?: number;
  peakRss: number;
}

/** Echoed by every contender; about 103 bytes as JSON, like the reference measurement. */
export interface SmallPayload {
  seq: number;
  user: string;
  roles: string[];
  note: string;
}

export function smallPayload(seq: number): SmallPayload {
  return { seq, user: 'ann@example.com', roles: ['reader', 'writer'], note: 'benchmark payload of about 100 B' };
}

const LARGE_BODY = 'x'.repeat(64 * 1024 - 10);

/** A 64 KiB string (10-character sequence prefix, so each request is distinct). */
export function largePayload(seq: number): string {
  return String(seq).padStart(10, '0') + LARGE_BODY;
}

const HUGE_BODY = 'x'.repeat(1024 * 1024 - 10);

/** A 1 MiB string (10-character sequence prefix). */
export function hugePayload(seq: number): string {
  return String(seq).padStart(10, '0') + HUGE_BODY;
}

/** A 64 KiB object as JSON: 400 records, the shape a list endpoint returns. */
export interface ObjectPayload {
  seq: number;
  rows: Array<{ id: number; name: string; score: number; active: boolean; tags: string[] }>;
}

export function objectPayload(seq: number): ObjectPayload {
  const rows = Array.from({ length: 400 }, (_, id) => ({
    id,
    name: `customer-${id}-of-batch-${seq}`,
    score: id * 1.25,
    active: id % 2 === 0,
    tags: ['alpha', 'beta', 'gamma'],
  }));
  return { seq, rows };
}

/** Throws unless `reply` is the echo of `sent`: a wrong answer fails the run. */
export function checkEcho(sent: SmallPayload | ObjectPayload | string, reply: unknown): void {
  if (typeof sent === 'string') {
    if (reply !== sent) throw new Error(`wrong echo for a large payload (got ${describe(reply)})`);
  } else if ('rows' in sent) {
    checkObjectEcho(sent, reply);
  } else {
    const r = reply as Partial<SmallPayload> | null;
    if (r === null || typeof r !== 'object' || r.seq !== sent.seq || r.user !== sent.user || r.note !== sent.note) {
      throw new Error(`wrong echo for seq ${sent.seq} (got ${describe(reply)})`);
    }
  }
}

function checkObjectEcho(sent: ObjectPayload, reply: unknown): void {
  const r = reply as Partial<ObjectPayload> | null;
  const last = sent.rows.length - 1;
  if (r?.seq !== sent.seq || r.rows?.length !== sent.rows.length || r.rows[last]?.name !== sent.rows[last]!.name) {
    throw new Error(`wrong echo for object seq ${sent.seq} (got ${describe(reply)})`);
  }
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? String(value) : text.slice(0, 80);
}

/** This process's peak resident set size in bytes (VmHWM, or maxRSS where /proc is missing). */
export function peakRss(): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Items a streamed reply emits per macrotask: a producer that yields, the same for every contender. */
export const STREAM_BATCH = 1_000;

/**
 * Calls `emit(i)` for i = 0..n-1, STREAM_BATCH per macrotask, then `done()`.
 * Returns a function that stops it early.
 */
export function pumpItems(n: number, emit: (i: number) => void, done: () => void): () => void {
  let i = 0;
  let timer: NodeJS.Immediate | undefined;
  let stopped = false;
  const step = () => {
    timer = undefined;
    const end = Math.min(n, i + STREAM_BATCH);
    while (i < end && !stopped) emit(i++);
    if (stopped) return;
    if (i >= n) done();
    else timer = setImmediate(step);
  };
  step();
  return () => {
    stopped = true;
    if (timer !== undefined) clearImmediate(timer);
  };
}

/** Exits the process if it is still alive after `ms`: no benchmark process outlives its bound. */
export function exitAfter(ms: number, what: string): void {
  setTimeout(() => {
    process.stderr.write(`${what}: still running after ${ms} ms, exiting\n`);
    process.exit(3);
  }, ms).unref();
}

/** A tcp port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Requests per second for `total` echoes with `inFlight` outstanding at a time. */
export function saturate(
  driver: { call(data: unknown): Promise<unknown> },
  total: number,
  inFlight: number,
  make: (i: number) => SmallPayload | ObjectPayload | string,
): Promise<number> {
  if (total === 0) return Promise.resolve(0);
  return new Promise((resolve, reject) => {
    let issued = 0;
    let done = 0;
    let failed = false;
    const start = process.hrtime.bigint();
    const next = () => {
      if (issued >= total || failed) return;
      const payload = make(issued++);
      driver.call(payload).then(
        reply => {
          try {
            checkEcho(payload, reply);
          } catch (err) {
            failed = true;
            reject(err);
            return;
          }
          if (++done === total) resolve(total / (Number(process.hrtime.bigint() - start) / 1e9));
          else next();
        },
        err => {
          failed = true;
          reject(err);
        },
      );
    };
    for (let k = 0; k < inFlight && k < total; k++) next();
  });
}
