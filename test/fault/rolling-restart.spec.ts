/**
 * The zero-failure rolling restart, with real processes:
 * servers behind one name (the client's `resolver` plays the DNS of a
 * Kubernetes headless Service: one loopback address per instance, 127.0.0.N,
 * all on one port), 32 concurrent request loops, each reply checked.
 *
 * Each server in turn is replaced as a rolling update does it: a new
 * instance listens on a new address and is added to the answer; once the
 * client has it (`peer:joined`), the old one gets SIGTERM (Nest's shutdown
 * hooks: drain, BYE, exit) and leaves the answer. Every wait is on an event
 * or a count; the loops are bounded in count, the waits by hang guards.
 */
import 'reflect-metadata';
import { firstValueFrom } from 'rxjs';
import { ClientZmq, ZmqPeerEvent } from 'nestjs-zeromq';
import { deferred, Deferred, within } from '../helpers/async';
import { TsChild } from '../helpers/child';
import { deadTcpEndpoint, Harness } from '../helpers/nest';

const LOOPS = 32;
/** Far beyond what a run needs: the loops stop on `stop`, this only bounds them. */
const MAX_PER_LOOP = 20_000;
const GUARD_MS = 20_000;
/** Requests a new server must have answered before the next step (it is in use). */
const SERVED = 20;

const h = new Harness();
afterEach(() => h.closeAll());

/** One server process at `address:port`. */
class Instance {
  readonly child: TsChild;
  constructor(
    readonly id: string,
    readonly address: string,
    port: number,
  ) {
    this.child = h.track(new TsChild('test/fixtures/scale-server.ts', [`tcp://${address}:${port}`, id, '5000']));
  }
  async ready(): Promise<void> {
    await this.child.line(/^READY /, 30_000);
  }
}

/** The client's view, by event: who joined, who is draining, who left, and how much each server answered. */
class Observed {
  readonly served = new Map<string, number>();
  readonly failures: string[] = [];
  ok = 0;
  private readonly waits: Array<{ test: () => boolean; done: Deferred<void> }> = [];
  private readonly events: Array<{ type: string; peerId: string; reason?: string }> = [];

  constructor(client: ClientZmq) {
    const on = (type: string) => (e: ZmqPeerEvent) => {
      this.events.push({ type, peerId: e.peerId, ...(e.reason !== undefined ? { reason: e.reason } : {}) });
      this.check();
    };
    client.on('peer:joined', on('joined'));
    client.on('peer:draining', on('draining'));
    client.on('peer:left', on('left'));
  }

  saw(type: string, peerId: string): boolean {
    return this.events.some(e => e.type === type && e.peerId === peerId);
  }

  leftReasons(peerId: string): string[] {
    return this.events.filter(e => e.type === 'left' && e.peerId === peerId).map(e => e.reason ?? '');
  }

  reply(server: string): void {
    this.ok++;
    this.served.set(server, (this.served.get(server) ?? 0) + 1);
    this.check();
  }

  /** Resolves once `test` holds (checked at every event and reply), or rejects after GUARD_MS. */
  until(test: () => boolean, what: string): Promise<void> {
    if (test()) return Promise.resolve();
    const done = deferred();
    this.waits.push({ test, done });
    return within(done.promise, GUARD_MS, what);
  }

  private check(): void {
    for (const w of this.waits) if (!w.done.settled && w.test()) w.done.resolve();
  }
}

/** Starts the request loops; `stop()` ends them and resolves when every loop has. */
function startLoops(client: ClientZmq, seen: Observed): { stop: () => Promise<void> } {
  let stopped = false;
  const loop = async (k: number): Promise<void> => {
    for (let i = 0; i < MAX_PER_LOOP && !stopped; i++) {
      const n = k * MAX_PER_LOOP + i;
      try {
        const r = await firstValueFrom(client.send<{ n: number; server: string }>('work', { n }));
        if (r.n === n) seen.reply(r.server);
        else seen.failures.push(`loop ${k}: asked ${n}, got ${JSON.stringify(r)}`);
      } catch (err) {
        seen.failures.push(`loop ${k} #${i}: ${(err as { code?: string }).code ?? String(err)}`);
      }
    }
  };
  const loops = Array.from({ length: LOOPS }, (_, k) => loop(k));
  return {
    stop: async () => {
      stopped = true;
      await within(Promise.all(loops), GUARD_MS, 'the request loops to end');
    },
  };
}

async function scaledClient(port: number, answer: () => string[]): Promise<{ client: ClientZmq; seen: Observed }> {
  const client = h.track(
    new ClientZmq({
      connect: `tcp://svc.test:${port}`,
      resolver: host => (host === 'svc.test' ? Promise.resolve(answer()) : Promise.reject(new Error(host))),
      resolveInterval: 100,
      requestTimeout: 10_000,
      connectTimeout: 30_000,
    }),
  );
  const seen = new Observed(client);
  await client.connect();
  return { client, seen };
}

const portOf = async () => Number((await deadTcpEndpoint()).split(':').pop());

describe('rolling restart of three servers behind one name', () => {
  it('32 concurrent request loops, each server drained, stopped and replaced in turn: 0 failed requests', async () => {
    const port = await portOf();
    let live = [1, 2, 3].map(i => new Instance(`v1-${i}`, `127.0.0.${i}`, port));
    // The new version's instances start meanwhile, each on a new address (a new pod's IP).
    const replacements = [1, 2, 3].map(i => new Instance(`v2-${i}`, `127.0.0.${3 + i}`, port));
    await Promise.all(live.map(s => s.ready()));
    let answer = live.map(s => s.address);
    const { client, seen } = await scaledClient(port, () => answer);
    await seen.until(() => live.every(s => seen.saw('joined', s.id)), 'three servers joined');
    const loops = startLoops(client, seen);
    await seen.until(() => live.every(s => (seen.served.get(s.id) ?? 0) >= SERVED), 'every server in use');

    for (let i = 0; i < 3; i++) {
      const old = live[0]!;
      const next = replacements[i]!;
      await next.ready();
      answer = [...answer, next.address];
      await seen.until(() => seen.saw('joined', next.id), `${next.id} joined`);
      const before = seen.ok;
      old.child.signal('SIGTERM');
      await seen.until(() => seen.saw('draining', old.id), `${old.id} draining`);
      await seen.until(() => seen.leftReasons(old.id).length > 0, `${old.id} left`);
      expect(seen.leftReasons(old.id)).toEqual(['bye']);
      expect(await old.child.exited).not.toEqual({ code: 1, signal: null });
      answer = answer.filter(a => a !== old.address);
      live = [...live.slice(1), next];
      await seen.until(
        () => (seen.served.get(next.id) ?? 0) >= SERVED && seen.ok >= before + LOOPS * 4,
        `${next.id} in use`,
      );
    }
    await loops.stop();

    expect(seen.failures).toEqual([]);
    expect(seen.ok).toBeGreaterThan(LOOPS * 12);
    expect([...seen.served.keys()].sort()).toEqual(['v1-1', 'v1-2', 'v1-3', 'v2-1', 'v2-2', 'v2-3']);
    expect(client.getEndpoints()).toEqual([
      { endpoint: `tcp://svc.test:${port}`, addresses: expect.arrayContaining(answer.map(a => `tcp://${a}:${port}`)) },
    ]);
    process.stdout.write(
      `rolling restart: ${seen.ok} requests, 0 failed; per server ${JSON.stringify(Object.fromEntries(seen.served))}\n`,
    );
  }, 60_000);
});

describe('scaling under load', () => {
  it('1 → 5 → 1 servers: requests spread to the new ones, and nothing fails on the way down', async () => {
    const port = await portOf();
    const first = new Instance('s-1', '127.0.0.1', port);
    await first.ready();
    let answer = [first.address];
    const { client, seen } = await scaledClient(port, () => answer);
    const loops = startLoops(client, seen);
    await seen.until(() => (seen.served.get('s-1') ?? 0) >= SERVED, 's-1 in use');

    const added = [2, 3, 4, 5].map(i => new Instance(`s-${i}`, `127.0.0.${i}`, port));
    await Promise.all(added.map(s => s.ready()));
    answer = [first, ...added].map(s => s.address);
    await seen.until(() => added.every(s => (seen.served.get(s.id) ?? 0) >= SERVED), 'the four new servers in use');

    for (const s of added) s.child.signal('SIGTERM');
    await seen.until(() => added.every(s => seen.leftReasons(s.id).length > 0), 'the four left');
    for (const s of added) expect(seen.leftReasons(s.id)).toEqual(['bye']);
    answer = [first.address];
    const before = seen.served.get('s-1') ?? 0;
    await seen.until(() => (seen.served.get('s-1') ?? 0) >= before + LOOPS * 4, 's-1 alone again');
    await loops.stop();

    expect(seen.failures).toEqual([]);
    expect(client.getPeers().map(p => p.peerId)).toEqual(['s-1']);
  }, 60_000);
});
