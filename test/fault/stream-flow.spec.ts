/**
 * Flow control with real processes: a consumer stopped
 * with SIGSTOP in the middle of a stream of 4 KiB items costs the server a
 * bounded amount of memory (under 100 MiB of RSS growth; a stream without
 * credit grows by about 1.5 GiB in 10 s), and after SIGCONT receives every item in
 * order, then completion (an async generator), or every item or a typed
 * STREAM_OVERFLOW (a pushing Observable); a client killed with SIGKILL in the
 * middle of an upload gets the handler's teardown run.
 *
 * In CI the stop lasts 2 s over 50,000 items (20,000 pushed); `SOAK=1` runs the
 * 10 s stop over 1,000,000 items. The server's RSS is read from
 * /proc/<pid>/status (VmRSS) while the consumer is stopped; the figures are
 * printed. The stop is the scenario itself, not a wait for something.
 */
import { readFileSync } from 'node:fs';
import { TsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';
import { SOAK } from '../helpers/soak';

const ITEMS = SOAK ? 1_000_000 : 50_000;
/** The pushing Observable: 4 items a millisecond (16 MiB/s of 4 KiB items, what a running consumer keeps up with). */
const PUSH_ITEMS = SOAK ? 200_000 : 20_000;
const PUSH_PER_MS = 4;
const STOP_MS = SOAK ? 10_000 : 2_000;
const ITEM = 4096;
const MIB = 1024 * 1024;
const BOUND = 100 * MIB;

const h = new Harness();
afterEach(() => h.closeAll());

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** The server's RSS every 100 ms for `ms` (bounded in count), and its peak. */
async function sampleRss(pid: number, ms: number): Promise<{ peak: number; samples: number }> {
  let peak = 0;
  let samples = 0;
  const until = Date.now() + ms;
  for (let i = 0; i < ms / 100 + 1 && Date.now() < until; i++) {
    peak = Math.max(peak, rssOf(pid));
    samples++;
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  return { peak, samples };
}

/**
 * A consumer stopped for longer than the server's heartbeat liveness (3 s by
 * default) is rightly declared dead: the server here waits 30 intervals.
 */
async function startServer(): Promise<{ server: TsChild; endpoint: string }> {
  const server = h.track(new TsChild('test/fixtures/stream-server.ts', ['tcp://127.0.0.1:*', '', '30']));
  const [, endpoint] = await server.line(/^READY (\S+)$/, 30_000);
  return { server, endpoint: endpoint! };
}

function startClient(endpoint: string, mode: string, n: number, perTurn = 100): TsChild {
  return h.track(
    new TsChild('test/fixtures/stream-client.ts', [endpoint, mode, String(n), String(ITEM), String(perTurn)]),
  );
}

function report(what: string, figures: Record<string, number | string>): void {
  process.stdout.write(`[stream-flow] ${what}: ${JSON.stringify(figures)}\n`);
}

it(
  `an async generator to a consumer stopped for ${STOP_MS / 1000} s: bounded server memory, then every item in order`,
  async () => {
    const { server, endpoint } = await startServer();
    const client = startClient(endpoint, 'gen', ITEMS);
    await client.line(/^FIRST$/, 30_000);
    const before = rssOf(server.process.pid!);
    client.signal('SIGSTOP');
    const { peak, samples } = await sampleRss(server.process.pid!, STOP_MS);
    client.signal('SIGCONT');
    const [line, count, order] = (await client.line(/^(?:DONE|ERROR \S+) (\d+) (\w+)$/, SOAK ? 240_000 : 60_000))!;
    const growth = peak - before;
    report('generator', {
      items: ITEMS,
      stopMs: STOP_MS,
      outcome: line!,
      rssBeforeMiB: before / MIB,
      peakMiB: peak / MIB,
      growthMiB: growth / MIB,
      samples,
    });
    expect(line).toMatch(/^DONE /);
    expect(Number(count)).toBe(ITEMS);
    expect(order).toBe('inorder');
    expect(growth).toBeLessThan(BOUND);
    await server.line(/^TEARDOWN gen$/, 5_000);
  },
  SOAK ? 300_000 : 90_000,
);

it(
  `a pushing Observable to a consumer stopped for ${STOP_MS / 1000} s: every item or STREAM_OVERFLOW, never a silent prefix; bounded memory`,
  async () => {
    const { server, endpoint } = await startServer();
    const client = startClient(endpoint, 'push', PUSH_ITEMS, PUSH_PER_MS);
    await client.line(/^FIRST$/, 30_000);
    const before = rssOf(server.process.pid!);
    client.signal('SIGSTOP');
    const { peak } = await sampleRss(server.process.pid!, STOP_MS);
    client.signal('SIGCONT');
    const [line, count, order] = (await client.line(/^(?:DONE|ERROR \S+) (\d+) (\w+)$/, SOAK ? 240_000 : 60_000))!;
    report('push', {
      items: PUSH_ITEMS,
      stopMs: STOP_MS,
      outcome: line!,
      rssBeforeMiB: before / MIB,
      peakMiB: peak / MIB,
      growthMiB: (peak - before) / MIB,
    });
    expect(order).toBe('inorder');
    if (line!.startsWith('DONE')) expect(Number(count)).toBe(PUSH_ITEMS);
    else {
      expect(line).toMatch(/^ERROR STREAM_OVERFLOW /);
      expect(Number(count)).toBeLessThan(PUSH_ITEMS);
      await server.line(/^TEARDOWN push$/, 5_000);
    }
    expect(peak - before).toBeLessThan(BOUND);
  },
  SOAK ? 300_000 : 90_000,
);

it('a client killed with SIGKILL in the middle of an upload: the handler’s teardown runs', async () => {
  const { server, endpoint } = await startServer();
  const client = startClient(endpoint, 'upload', 0);
  await client.line(/^SENDING$/, 30_000);
  await server.line(/^UPLOADING$/, 15_000);
  client.signal('SIGKILL');
  await server.line(/^TEARDOWN upload$/, 15_000);
  await server.line(/^LEFT stream-upload-\d+ disconnect$/, 15_000);
}, 60_000);
