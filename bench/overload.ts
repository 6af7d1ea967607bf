/**
 * `npm run bench -- --overload [--quick]`: goodput under open-loop overload,
 * nestjs-zeromq against Nest TCP in the same run.
 *
 * The server's one handler, `work`, holds the CPU for 200 µs (a busy loop),
 * so one server process answers a few thousand calls per second. First the
 * capacity is measured: `work` calls from closed loops (32 in flight) against
 * a nestjs-zeromq server, the best of three runs. Then, for each contender and each load (0.5×, 1×,
 * 2×, 4× that capacity; the same offered rates for both contenders), fresh
 * server and client processes are started and the client sends `work` calls
 * at the fixed rate for the phase whatever the answers (open loop), each
 * with a 2 s timeout (`requestTimeout` for ClientZmq, rxjs `timeout()` for
 * Nest TCP, which has none of its own), and waits until every call settled.
 *
 * Figures per phase: goodput (successes that came back while sending, per
 * second, and its share of the capacity), p50/p99 of the successes, how many
 * calls were shed (`OVERLOADED`) and how fast their callers heard, other
 * failures by code, and how many handlers the server ran (work done for
 * callers that had given up shows as runs beyond the successes). Then the
 * targets per contender: at 2× and 4× the goodput stays ≥ 90 % of capacity
 * and the successes' p99 ≤ 3 × their p99 at 0.5× (the unloaded p99) + the
 * handler's 0.2 ms, each met or not. Nothing is asserted; the report goes to
 * stdout and .bench-results/overload-latest.json.
 *
 * Children: `bench/overload.ts server <zmq|tcp>` prints `READY <endpoint>`;
 * `bench/overload.ts client <zmq|tcp> <endpoint>` reads `closed <loops> <count>`
 * and `open <rate> <ms>` lines and prints `RESULT <json>` for each.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy, ClientProxyFactory, MessagePattern, MicroserviceOptions, Transport } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { ClientZmq, ServerZmq } from '../lib';
import { freePort } from './common';

export type Kind = 'zmq' | 'tcp';
const KINDS: readonly Kind[] = ['zmq', 'tcp'];
const LABEL: Record<Kind, string> = { zmq: 'nestjs-zeromq', tcp: 'Nest TCP' };
const WORK_NS = 200_000n;
const TIMEOUT_MS = 2_000;
const LOADS = [0.5, 1, 2, 4];
/** The load whose ok p99 is the unloaded one the targets are relative to. */
const UNLOADED = 0.5;
const HANDLER_MS = Number(WORK_NS) / 1e6;
/** The share of capacity the goodput must keep at 2× and 4×. */
const GOODPUT_TARGET = 0.9;
const ROOT = resolve(__dirname, '..');

/** One phase's figures (see the file comment). */
interface PhaseResult {
  sent: number;
  ok: number;
  goodput: number;
  failed: Record<string, number>;
  /** Successes: p50/p99 latency (ms). */
  p50: number;
  p99: number;
  /** Calls refused OVERLOADED (by the server or the client's throttle), and their p50/p99 latency (ms). */
  shed: number;
  shedP50: number;
  shedP99: number;
  elapsedMs: number;
  /** Handlers the server ran during the phase. */
  handled?: number;
}

// ---------------------------------------------------------------- server child

let handled = 0;

@Controller()
class WorkController {
  @MessagePattern('work')
  work(): number {
    const end = process.hrtime.bigint() + WORK_NS;
    while (process.hrtime.bigint() < end) {
      // busy: the handler's CPU cost
    }
    return ++handled;
  }

  @MessagePattern('handled')
  handled(): number {
    return handled;
  }
}

@Module({ controllers: [WorkController] })
class WorkModule {}

async function serverChild(kind: Kind): Promise<void> {
  let endpoint: string;
  if (kind === 'tcp') {
    const port = await freePort();
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(WorkModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
      logger: false,
    });
    await app.listen();
    endpoint = `127.0.0.1:${port}`;
  } else {
    // Default options: what a new user gets.
    const strategy = new ServerZmq({ bind: 'tcp://127.0.0.1:*' });
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(WorkModule, { strategy, logger: false });
    await app.listen();
    endpoint = strategy.endpoints[0]!;
  }
  process.stdin.on('end', () => process.exit(0)).resume();
  process.stdout.write(`READY ${endpoint}\n`);
}

// ---------------------------------------------------------------- client child

const now = () => performance.now();
const codeOf = (err: unknown) => {
  const code = (err as { code?: unknown; name?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === 'TimeoutError' ? 'TIMEOUT' : typeof name === 'string' ? name : 'UNKNOWN';
};

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

/** Calls `one` at `rate` per second for `ms`, on a 1 ms tick (catching up after a late tick), and waits for all. */
async function openLoop(rate: number, ms: number, one: () => Promise<void>): Promise<number> {
  const total = Math.round((rate * ms) / 1000);
  const calls: Promise<void>[] = [];
  const t0 = now();
  await new Promise<void>(done => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((now() - t0) * rate) / 1000));
      while (calls.length < due) calls.push(one());
      if (calls.length >= total) {
        clearInterval(tick);
        done();
      }
    }, 1);
  });
  await Promise.all(calls);
  return total;
}

/** `count` calls of `one` from `loops` closed loops. */
async function closedLoops(loops: number, count: number, one: () => Promise<void>): Promise<number> {
  let next = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }),
  );
  return count;
}

function connectClient(kind: Kind, endpoint: string): ClientProxy {
  if (kind === 'zmq') return new ClientZmq({ connect: endpoint, requestTimeout: TIMEOUT_MS });
  const [host, port] = endpoint.split(':');
  return ClientProxyFactory.create({ transport: Transport.TCP, options: { host: host!, port: Number(port) } });
}

async function clientChild(kind: Kind, endpoint: string): Promise<void> {
  const client = connectClient(kind, endpoint);
  await client.connect();
  const call = () =>
    firstValueFrom(kind === 'tcp' ? client.send<number>('work', 0).pipe(timeout(TIMEOUT_MS)) : client.send('work', 0));
  /** The server's handler runs so far; `undefined` when that call itself fails (shed, timed out). */
  const handledSoFar = () => firstValueFrom(client.send<number>('handled', 0)).catch(() => undefined);

  const run = async (open: boolean, a: number, b: number): Promise<PhaseResult> => {
    const lat: number[] = [];
    const shedLat: number[] = [];
    const ends: number[] = [];
    const failed: Record<string, number> = {};
    const one = async () => {
      const t0 = now();
      try {
        await call();
        const t1 = now();
        lat.push(t1 - t0);
        ends.push(t1);
      } catch (err) {
        const code = codeOf(err);
        failed[code] = (failed[code] ?? 0) + 1;
        if (code === 'OVERLOADED') shedLat.push(now() - t0);
      }
    };
    const before = await handledSoFar();
    const t0 = now();
    const sent = open ? await openLoop(a, b, one) : await closedLoops(a, b, one);
    const elapsed = now() - t0;
    const window = open ? b : elapsed;
    const after = await handledSoFar();
    lat.sort((x, y) => x - y);
    shedLat.sort((x, y) => x - y);
    return {
      sent,
      ok: lat.length,
      goodput: Math.round((ends.filter(t => t - t0 <= window).length / window) * 1000),
      failed,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      shed: shedLat.length,
      shedP50: pct(shedLat, 50),
      shedP99: pct(shedLat, 99),
      elapsedMs: Math.round(elapsed),
      ...(before !== undefined && after !== undefined ? { handled: after - before } : {}),
    };
  };

  const input = createInterface({ input: process.stdin });
  input.on('close', () => process.exit(0));
  input.on('line', line => {
    const [verb, a, b] = line.trim().split(/\s+/);
    void run(verb === 'open', Number(a), Number(b)).then(r => process.stdout.write(`RESULT ${JSON.stringify(r)}\n`));
  });
  process.stdout.write('READY -\n');
}

// ---------------------------------------------------------------- the run

class Proc {
  readonly proc: ChildProcess;
  private buffer = '';
  private readonly pending: Array<{ prefix: string; resolve: (rest: string) => void; reject: (e: Error) => void }> = [];
  private stderr = '';

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, ['-r', './test/helpers/ts-register.cjs', 'bench/overload.ts', ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.proc.stdin!.on('error', () => undefined);
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buffer += d;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const i = this.pending.findIndex(p => line.startsWith(`${p.prefix} `));
        if (i >= 0) this.pending.splice(i, 1)[0]!.resolve(line.slice(line.indexOf(' ') + 1));
      }
    });
    this.proc.once('exit', code => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`${args[0]} exited (${code}): ${this.stderr}`));
    });
  }

  /** The rest of the next line starting with `prefix`, after writing `command` (if any). */
  next(prefix: string, command?: string): Promise<string> {
    const answer = new Promise<string>((res, rej) => this.pending.push({ prefix, resolve: res, reject: rej }));
    if (command !== undefined) this.proc.stdin!.write(`${command}\n`);
    return answer;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** A fresh server and client of `kind`, `body` run with the client, both killed afterwards. */
async function withPair<T>(kind: Kind, body: (client: Proc) => Promise<T>): Promise<T> {
  const server = new Proc(['server', kind]);
  let client: Proc | undefined;
  try {
    const endpoint = await server.next('READY');
    client = new Proc(['client', kind, endpoint]);
    await client.next('READY');
    return await body(client);
  } finally {
    client?.kill();
    server.kill();
  }
}

const ask = async (client: Proc, command: string) => JSON.parse(await client.next('RESULT', command)) as PhaseResult;

/** The issue's targets for one contender: goodput ≥ 90 % of capacity and ok p99 ≤ 3 × its unloaded p99 + the handler. */
interface Verdict {
  kind: Kind;
  /** 3 × the ok p99 at 0.5× + the handler's time (ms). */
  p99Target: number;
  /** Per overloaded phase (2×, 4×): the two targets met. */
  phases: Array<{ load: number; goodputMet: boolean; p99Met: boolean }>;
  line: string;
}

function verdictOf(
  kind: Kind,
  rows: ReadonlyArray<{ kind: Kind; load: number; result: PhaseResult }>,
  cap: number,
): Verdict {
  const mine = rows.filter(r => r.kind === kind);
  const unloaded = mine.find(r => r.load === UNLOADED)?.result.p99 ?? 0;
  const p99Target = Math.round((3 * unloaded + HANDLER_MS) * 100) / 100;
  const phases = mine
    .filter(r => r.load >= 2)
    .map(({ load, result: r }) => ({
      load,
      goodputMet: r.goodput >= GOODPUT_TARGET * cap,
      p99Met: r.ok > 0 && r.p99 <= p99Target,
    }));
  const met = (b: boolean) => (b ? 'met' : 'NOT met');
  const line =
    `ok p99 ≤ 3 × ${unloaded} + ${HANDLER_MS} = ${p99Target}: ` +
    phases.map(p => `${p.load}× ${met(p.p99Met)}`).join(', ') +
    `; goodput ≥ ${GOODPUT_TARGET * 100} %: ` +
    phases.map(p => `${p.load}× ${met(p.goodputMet)}`).join(', ');
  return { kind, p99Target, phases, line };
}

/** Runs every phase for `kinds` (both contenders by default) and returns the report. */
export async function runOverload(quick: boolean, kinds: readonly Kind[] = KINDS): Promise<string> {
  const phaseMs = quick ? 1_500 : 5_000;
  const measure = quick ? 3_000 : 10_000;
  // The best of three closed-loop runs: other load on the machine only ever lowers a run's figure.
  const capacity = await withPair('zmq', async client => {
    await ask(client, `closed 32 ${measure / 5}`);
    let best: PhaseResult | undefined;
    for (let i = 0; i < 3; i++) {
      const r = await ask(client, `closed 32 ${measure}`);
      if (best === undefined || r.goodput > best.goodput) best = r;
    }
    return best!;
  });
  const rows: Array<{ kind: Kind; load: number; rate: number; result: PhaseResult }> = [];
  for (const load of LOADS) {
    for (const kind of kinds) {
      const rate = Math.round(capacity.goodput * load);
      const result = await withPair(kind, async client => {
        await ask(client, `closed 32 ${measure / 5}`);
        return ask(client, `open ${rate} ${phaseMs}`);
      });
      rows.push({ kind, load, rate, result });
      process.stderr.write(`overload: ${LABEL[kind]} at ${load}× done\n`);
    }
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
  const verdicts = kinds.map(kind => verdictOf(kind, rows, capacity.goodput));
  const lines = [
    `Overload${quick ? ' (QUICK: figures not meaningful)' : ''}: ${new Date().toISOString().slice(0, 10)}, ${machine}`,
    `handler 200 µs of CPU; capacity ${capacity.goodput} calls/s (nestjs-zeromq, 32 in flight, p99 ${capacity.p99} ms); ` +
      `open loop for ${phaseMs / 1000} s per phase, 2 s timeout per call, fresh processes per phase`,
    '',
    'load  rate/s   contender       goodput/s  (% cap)  ok p50  ok p99     shed  shed p99  handlers run  other failures',
  ];
  for (const { kind, load, rate, result: r } of rows) {
    const share = Math.round((r.goodput / capacity.goodput) * 100);
    const failed = Object.entries(r.failed)
      .filter(([code]) => code !== 'OVERLOADED')
      .map(([code, n]) => `${code} ${n}`)
      .join(', ');
    lines.push(
      `${`${load}×`.padEnd(6)}${String(rate).padEnd(9)}${LABEL[kind].padEnd(16)}${String(r.goodput).padStart(9)}  ` +
        `${`${share}%`.padStart(7)}  ${String(r.p50).padStart(6)}  ${String(r.p99).padStart(6)}  ` +
        `${String(r.shed).padStart(7)}  ${String(r.shedP99).padStart(8)}  ` +
        `${String(r.handled ?? '').padStart(12)}  ${failed || '-'}`,
    );
  }
  lines.push('', `targets (ms of latency, % of capacity; "ok" = calls that succeeded; handler ${HANDLER_MS} ms):`);
  for (const v of verdicts) lines.push(`  ${LABEL[v.kind].padEnd(15)} ${v.line}`);
  const report = lines.join('\n');
  const dir = join(ROOT, '.bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'overload-latest.json'),
    JSON.stringify({ date: new Date().toISOString(), quick, machine, capacity, rows, verdicts, report }, null, 2),
  );
  return report;
}

if (require.main === module) {
  const [role, kind, endpoint] = process.argv.slice(2);
  if ((role !== 'server' && role !== 'client') || !KINDS.includes(kind as Kind)) {
    process.stderr.write('usage: bench/overload.ts server <zmq|tcp> | client <zmq|tcp> <endpoint>\n');
    process.exit(2);
  }
  const started = role === 'server' ? serverChild(kind as Kind) : clientChild(kind as Kind, endpoint ?? '');
  started.catch(err => {
    process.stderr.write(`[overload ${role}] ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
