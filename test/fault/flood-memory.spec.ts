/**
 * Memory under floods: a server's RSS after floods of random and mutated
 * messages and of short-lived sessions, against its baseline. The bounds:
 * 30 MiB after the first fuzz flood, 5 MiB more after a second one of the
 * same size (a plateau, not a slope; in CI, 35 MiB after both), 30 MiB
 * after the sessions. Before the
 * baseline the server streams 20,000 values, as a server in service has
 * done: V8 grows its young generation once under allocation (heapTotal about
 * +16 MiB), which is not the floods' doing. What the floods leave is native:
 * received frames and the allocator's hold on their peak, which the server
 * keeps low by receiving frames by copy (lib/transport/raw-sockets.ts
 * receiveByCopy). The server child runs with MALLOC_ARENA_MAX=2, the setting
 * docs/streams.md recommends for servers that face untrusted peers.
 *
 * In CI the floods are a tenth of the full size (10,000 messages each, 2,000
 * sessions), the bounds the same; `SOAK=1` runs 100,000 and 20,000, and
 * FLOOD_MESSAGES sets the fuzz flood's size. The server is a child process
 * (its RSS read from /proc/<pid>/status); every flood ends with a round trip
 * on the same connection, so everything sent before it has been read by the
 * server when the RSS is taken. The figures are printed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { count, firstValueFrom, lastValueFrom } from 'rxjs';
import { Dealer } from 'zeromq';
import { ClientZmq } from 'nestjs-zeromq';
import { TsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';
import { SOAK } from '../helpers/soak';
import { ENC, header, helloPayload, T } from '../helpers/wire';

const FUZZ = Number(process.env.FLOOD_MESSAGES ?? (SOAK ? 100_000 : 10_000));
const SESSIONS = SOAK ? 20_000 : 2_000;
const PARALLEL = 16;
const MIB = 1024 * 1024;

const h = new Harness();
afterAll(() => h.closeAll());

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

function report(what: string, figures: Record<string, number>): void {
  const out = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  process.stdout.write(`[flood-memory] ${what}: ${JSON.stringify(out)}\n`);
}

let server: TsChild;
let endpoint: string;
let probe: ClientZmq;

/** The server's V8 heap and external memory, in MiB (what is the JavaScript's, not libzmq's or the allocator's). */
async function heapOf(suffix = ''): Promise<Record<string, number>> {
  const m = await firstValueFrom(probe.send<NodeJS.MemoryUsage>('mem', {}));
  return {
    [`heap${suffix}MiB`]: m.heapUsed / MIB,
    [`heapTotal${suffix}MiB`]: m.heapTotal / MIB,
    [`external${suffix}MiB`]: m.external / MIB,
  };
}

/**
 * The server's heap and RSS after a full collection (its `mem` handler runs
 * one): what a flood left retained, not garbage yet to be collected.
 */
async function retained(pid: number): Promise<{ heap1: Record<string, number>; after: number }> {
  const heap1 = await heapOf('After');
  return { heap1, after: rssOf(pid) };
}

beforeAll(async () => {
  // FLOOD_RHWM: the server's receiveHighWaterMark, to compare settings (default: the library's).
  const rhwm = process.env.FLOOD_RHWM ?? '';
  process.env.MALLOC_ARENA_MAX ??= '2'; // the server child inherits it: freed buffers go back to fewer arenas
  server = h.track(new TsChild('test/fixtures/stream-server.ts', ['tcp://127.0.0.1:*', '', '', rhwm]));
  endpoint = (await server.line(/^READY (\S+)$/, 30_000))[1]!;
  probe = await h.connectClient(endpoint);
  // Ordinary traffic first, as a server in service has had: V8 grows its young generation under allocation
  // (heapTotal +16 MiB here), a one-time growth that is not the floods' to answer for.
  const items = await lastValueFrom(probe.send<string>('gen', { n: 20_000, size: 1024 }).pipe(count()));
  if (items !== 20_000) throw new Error(`warm-up streamed ${items} of 20000 items`);
  for (let i = 0; i < 20; i++) await session(`warm-${i}`);
}, 60_000);

/** One session: HELLO, its WELCOME, BYE, close. */
async function session(id: string): Promise<void> {
  const d = new Dealer({ linger: 0, receiveTimeout: 10_000 });
  try {
    d.connect(endpoint);
    await d.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload(id)]);
    const [head] = await d.receive();
    if (head![1] !== T.WELCOME) throw new Error(`session ${id}: type ${head![1]} instead of WELCOME`);
    await d.send([header(T.BYE), Buffer.alloc(0)]);
  } finally {
    d.close();
  }
}

/** A message of garbage: 1 to 6 frames of random bytes (up to 2 KiB each), or a valid envelope with bytes flipped. */
function fuzzMessage(i: number, valid: Buffer[]): Buffer[] {
  if (i % 2 === 0) {
    const frames = 1 + (i % 6);
    return Array.from({ length: frames }, (_, k) => randomBytes((i * 7919 + k * 104729) % 2048));
  }
  const base = valid[i % valid.length]!.map(b => b);
  const header0 = Buffer.from(base);
  header0[(i >> 1) % header0.length] ^= 1 << (i % 8);
  return [header0, randomBytes(i % 512)];
}

/** Sends FUZZ garbage messages on one connection; resolves once the server has read all of them. */
async function fuzzFlood(pid: number, round: number): Promise<number> {
  const d = new Dealer({ linger: 0, receiveTimeout: 20_000, sendHighWaterMark: 100_000 });
  let peak = rssOf(pid);
  try {
    d.connect(endpoint);
    const valid = [
      header(T.HELLO, { enc: ENC.JSON }),
      header(T.REQUEST, { id: 1, pattern: 'gen', enc: ENC.JSON }),
      header(T.PING),
    ];
    for (let i = 0; i < FUZZ; i++) {
      await d.send(fuzzMessage(i, valid));
      if (i % 5_000 === 0) peak = Math.max(peak, rssOf(pid));
    }
    // In order on this connection: once the WELCOME is back, the server has read every message before it.
    await d.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload(`after-fuzz-${round}`)]);
    for (let i = 0; i < FUZZ + 10; i++) {
      const [head] = await d.receive();
      if (head!.length >= 2 && head![1] === T.WELCOME) break;
    }
    return peak;
  } finally {
    d.close();
  }
}

it(
  `${FUZZ} random and mutated messages leave the server within 30 MiB of its baseline, and ${FUZZ} more add little (5 MiB at the full size)`,
  async () => {
    const pid = server.process.pid!;
    const heap0 = await heapOf('Before');
    const before = rssOf(pid);
    const peak1 = await fuzzFlood(pid, 1);
    const first = await retained(pid);
    const peak2 = await fuzzFlood(pid, 2);
    const second = await retained(pid);
    report('fuzz', {
      ...heap0,
      ...second.heap1,
      messages: FUZZ,
      beforeMiB: before / MIB,
      peakMiB: Math.max(peak1, peak2, second.after) / MIB,
      afterFirstMiB: first.after / MIB,
      afterSecondMiB: second.after / MIB,
      growthMiB: (first.after - before) / MIB,
      secondGrowthMiB: (second.after - first.after) / MIB,
    });
    expect(first.after - before).toBeLessThan(30 * MIB);
    // The full floods (SOAK) reach their peak in the first: the second adds under 5 MiB. At a tenth of the size
    // the first may stop short of it (Node 24 seen at +8 then +12 MiB), so CI judges both floods together.
    if (SOAK) expect(second.after - first.after).toBeLessThan(5 * MIB);
    expect(second.after - before).toBeLessThan(35 * MIB);
  },
  SOAK ? 900_000 : 180_000,
);

it(
  `${SESSIONS} short-lived sessions leave the server within 30 MiB of its baseline`,
  async () => {
    const pid = server.process.pid!;
    const before = rssOf(pid);
    let peak = before;
    for (let i = 0; i < SESSIONS; i += PARALLEL) {
      await Promise.all(Array.from({ length: Math.min(PARALLEL, SESSIONS - i) }, (_, k) => session(`short-${i + k}`)));
      if (i % 1_000 < PARALLEL) peak = Math.max(peak, rssOf(pid));
    }
    await session('last');
    const { heap1, after } = await retained(pid);
    report('sessions', {
      ...heap1,
      sessions: SESSIONS,
      beforeMiB: before / MIB,
      peakMiB: Math.max(peak, after) / MIB,
      afterMiB: after / MIB,
      growthMiB: (after - before) / MIB,
    });
    expect(after - before).toBeLessThan(30 * MIB);
  },
  SOAK ? 900_000 : 180_000,
);
