/**
 * Liveness and the mesh against real processes: servers (and a client) run
 * as child processes and are killed with SIGKILL or stopped with SIGSTOP.
 * Heartbeats here: 250 ms × liveness 4, so a dead peer is declared within
 * 1.25 s. Every wait is on an event; `within()` only guards against a hang.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { finalize, firstValueFrom, interval, map, Observable, take } from 'rxjs';
import { ClientZmq, ZmqPeerEvent, ZmqPeerLostError } from 'nestjs-zeromq';
import { deferred, Probe, within } from '../helpers/async';
import { TsChild } from '../helpers/child';
import { Harness } from '../helpers/nest';

const HEARTBEAT = { heartbeatInterval: 250, heartbeatLiveness: 4 };
const DETECT_GUARD_MS = 250 * 5 + 4_000; // the detection bound plus slack for a loaded machine
const SERVER = 'test/fixtures/mesh-server.ts';

const probe = new Probe();

@Controller()
class StreamController {
  @MessagePattern('ticks')
  ticks(@Payload() tag: string) {
    return interval(20).pipe(
      take(100_000),
      map(i => ({ tag, i })),
      finalize(() => probe.hit(`teardown:${tag}`)),
    );
  }
}

/** The next `event` of `client` whose payload passes `match`. */
function next(
  target: { on(e: string, cb: (e: ZmqPeerEvent) => void): unknown },
  event: 'peer:joined' | 'peer:left',
  match: (e: ZmqPeerEvent) => boolean = () => true,
  guardMs = DETECT_GUARD_MS,
): Promise<ZmqPeerEvent> {
  const d = deferred<ZmqPeerEvent>();
  target.on(event, e => {
    if (!d.settled && match(e)) d.resolve(e);
  });
  return within(d.promise, guardMs, event);
}

/** Starting a child (TypeScript compiled on the fly, Nest booting) can take long on a loaded machine. */
const START_GUARD_MS = 30_000;
/** Per test: children start, die and start again. */
const TEST_MS = 90_000;

describe('liveness with real processes', () => {
  const h = new Harness();
  afterEach(async () => {
    probe.reset();
    await h.closeAll();
  });

  async function startServer(id: string, bind = 'tcp://127.0.0.1:*'): Promise<{ child: TsChild; endpoint: string }> {
    const child = h.track(new TsChild(SERVER, [bind, id, '250']));
    const [, endpoint] = await child.line(/^READY (\S+)/, START_GUARD_MS);
    return { child, endpoint: endpoint! };
  }

  function newClient(connect: string | string[], extra: Record<string, unknown> = {}): ClientZmq {
    return h.track(
      new ClientZmq({ connect, ...HEARTBEAT, reconnectInterval: 50, reconnectMaxInterval: 400, ...extra }),
    );
  }

  it(
    'a server killed mid-stream: the stream errors with PEER_LOST, peer:left fires, status is reconnecting',
    async () => {
      const { child, endpoint } = await startServer('s-kill');
      const client = newClient(endpoint);
      await client.connect();
      const statuses: string[] = [];
      client.status.subscribe(s => statuses.push(s));
      const left = next(client, 'peer:left');
      let n = 0;
      const outcome = new Promise<unknown>(resolve => {
        client.send('ticks', 'a').subscribe({
          next: () => {
            if (++n === 3) child.signal('SIGKILL');
          },
          error: resolve,
          complete: () => resolve(new Error('the stream completed instead of failing')),
        });
      });
      const err = await within(outcome, DETECT_GUARD_MS, 'the stream to fail');
      expect(err).toBeInstanceOf(ZmqPeerLostError);
      expect((err as ZmqPeerLostError).code).toBe('PEER_LOST');
      const event = await left;
      expect(event).toMatchObject({ peerId: 's-kill', direction: 'upstream', endpoint });
      expect(['disconnect', 'timeout']).toContain(event.reason);
      expect(client.getPeers()).toEqual([]);
      expect(statuses[statuses.length - 1]).toBe('reconnecting');
      // Nothing serves the pattern now: fails at once, naming it.
      await expect(firstValueFrom(client.send('who', 1))).rejects.toMatchObject({
        code: 'NO_PEER',
        message: expect.stringContaining('who'),
      });
    },
    TEST_MS,
  );

  it(
    'a server stopped with SIGSTOP is declared dead by timeout; after SIGCONT it joins again and serves',
    async () => {
      const { child, endpoint } = await startServer('s-stop');
      const client = newClient(endpoint);
      await client.connect();
      const pendingStream = new Promise<unknown>(resolve =>
        client.send('ticks', 'b').subscribe({ error: resolve, complete: () => resolve('completed') }),
      );
      const left = next(client, 'peer:left');
      child.signal('SIGSTOP');
      const event = await left;
      expect(event).toMatchObject({ peerId: 's-stop', reason: 'timeout' });
      expect(await within(pendingStream, DETECT_GUARD_MS, 'the stream to fail')).toBeInstanceOf(ZmqPeerLostError);
      const joined = next(client, 'peer:joined');
      child.signal('SIGCONT');
      expect(await joined).toMatchObject({ peerId: 's-stop', direction: 'upstream' });
      await expect(firstValueFrom(client.send('who', 7))).resolves.toEqual({ id: 's-stop', n: 7 });
    },
    TEST_MS,
  );

  it(
    'a server restarted on the same endpoint: the client reconnects, handshakes again and requests succeed',
    async () => {
      const first = await startServer('s-old');
      const client = newClient(first.endpoint);
      await client.connect();
      await expect(firstValueFrom(client.send('who', 1))).resolves.toEqual({ id: 's-old', n: 1 });
      const left = next(client, 'peer:left');
      first.child.signal('SIGKILL');
      await left;
      const joined = next(client, 'peer:joined', e => e.peerId === 's-new', START_GUARD_MS);
      await startServer('s-new', first.endpoint);
      await joined;
      await expect(firstValueFrom(client.send('who', 2))).resolves.toEqual({ id: 's-new', n: 2 });
      expect(client.getPeers().map(p => p.peerId)).toEqual(['s-new']);
    },
    TEST_MS,
  );

  it(
    'a client started before its server works once the server starts',
    async () => {
      const { child, endpoint } = await startServer('s-probe');
      child.signal('SIGKILL');
      await child.exited;
      const client = newClient(endpoint, { connectTimeout: 200 });
      await expect(client.connect()).rejects.toMatchObject({ code: 'CONNECT_REFUSED' });
      const joined = next(client, 'peer:joined', () => true, START_GUARD_MS);
      await startServer('s-late', endpoint);
      await joined;
      await client.connect();
      await expect(firstValueFrom(client.send('who', 3))).resolves.toEqual({ id: 's-late', n: 3 });
    },
    TEST_MS,
  );

  it(
    'a client killed with SIGKILL: the server emits peer:left and unsubscribes its stream',
    async () => {
      const { server, endpoint } = await h.startServer({
        bind: 'tcp://127.0.0.1:*',
        controllers: [StreamController],
        options: HEARTBEAT,
      });
      const joined = next(server, 'peer:joined', e => e.peerId === 'c-kill', START_GUARD_MS);
      const client = h.track(new TsChild('test/fixtures/mesh-client.ts', [endpoint, 'c-kill', 'k']));
      await joined;
      await client.line(/^STREAMING/, START_GUARD_MS);
      expect(server.getStats().inFlight).toBe(1);
      const left = next(server, 'peer:left', e => e.peerId === 'c-kill');
      client.signal('SIGKILL');
      const event = await left;
      expect(['disconnect', 'timeout']).toContain(event.reason);
      await probe.wait('teardown:k', DETECT_GUARD_MS);
      expect(server.getStats().inFlight).toBe(0);
      expect(server.getPeers()).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'three servers behind one client: round-robin spreads requests; killing one moves new ones to the others, none left without an outcome',
    async () => {
      const servers = await Promise.all(['m1', 'm2', 'm3'].map(id => startServer(id)));
      const client = newClient(servers.map(s => s.endpoint));
      let joins = 0;
      const allJoined = deferred();
      client.on('peer:joined', () => ++joins === 3 && allJoined.resolve());
      await client.connect();
      await within(allJoined.promise, 10_000, 'three servers');
      const ask = (n: number) =>
        Promise.all(Array.from({ length: n }, (_, i) => firstValueFrom(client.send<{ id: string }>('who', i))));
      const spread = count((await ask(30)).map(r => r.id));
      expect(spread).toEqual({ m1: 10, m2: 10, m3: 10 });

      // Requests and streams in flight while m2 dies: each ends with a reply or PEER_LOST.
      const streams = ['x', 'y', 'z'].map(tag => settle(client.send('ticks', tag).pipe(take(1_000_000))));
      const burst = Array.from({ length: 60 }, (_, i) => settle(client.send('who', i)));
      const left = next(client, 'peer:left', e => e.peerId === 'm2');
      servers[1]!.child.signal('SIGKILL');
      await left;
      const outcomes = await within(Promise.all(burst), DETECT_GUARD_MS, 'every request of the burst');
      for (const o of outcomes) {
        if (o.ok) expect(['m1', 'm2', 'm3']).toContain((o.value as { id: string }).id);
        else expect((o.error as { code?: string }).code).toBe('PEER_LOST');
      }
      // The stream that went to m2 failed; the others go on until unsubscribed.
      const m2Stream = await within(Promise.race(streams.map(s => s.done)), DETECT_GUARD_MS, 'the m2 stream');
      expect(m2Stream.ok).toBe(false);
      expect((m2Stream as { error?: { code?: string } }).error?.code).toBe('PEER_LOST');
      for (const s of streams) s.stop();

      const after = count((await ask(20)).map(r => r.id));
      expect(after).toEqual({ m1: 10, m3: 10 });
    },
    TEST_MS,
  );
});

describe('many clients', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  it(
    '50 clients join and leave: 50 joins, 50 leaves (bye), no peer left over',
    async () => {
      const { server, endpoint } = await h.startServer({
        bind: 'tcp://127.0.0.1:*',
        controllers: [StreamController],
        options: HEARTBEAT,
      });
      let joined = 0;
      let left = 0;
      const reasons = new Set<string>();
      const allLeft = deferred();
      server.on('peer:joined', () => joined++);
      server.on('peer:left', e => {
        reasons.add(e.reason!);
        if (++left === 50) allLeft.resolve();
      });
      const clients = Array.from(
        { length: 50 },
        (_, i) => new ClientZmq({ connect: endpoint, id: `many-${i}`, ...HEARTBEAT }),
      );
      try {
        await Promise.all(clients.map(c => c.connect()));
        expect(joined).toBe(50);
        expect(server.getPeers()).toHaveLength(50);
      } finally {
        await Promise.all(clients.map(c => c.close()));
      }
      await within(allLeft.promise, 10_000, '50 leaves');
      expect(joined).toBe(50);
      expect(left).toBe(50);
      expect([...reasons]).toEqual(['bye']);
      expect(server.getPeers()).toEqual([]);
    },
    TEST_MS,
  );
});

function count(ids: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) out[id] = (out[id] ?? 0) + 1;
  return out;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Subscribes and records the first outcome: a value (then unsubscribes) or an error. */
function settle(source: Observable<unknown>): Promise<Outcome> & { done: Promise<Outcome>; stop(): void } {
  let stop = () => undefined as void;
  const done = new Promise<Outcome>(resolve => {
    let got = false;
    const sub = source.subscribe({
      next: value => {
        if (!got) resolve({ ok: true, value });
        got = true;
      },
      error: error => resolve({ ok: false, error }),
      complete: () => resolve({ ok: false, error: new Error('completed without a value') }),
    });
    stop = () => sub.unsubscribe();
  });
  // For streams, `done` is the failure (values are expected); for requests, the first outcome.
  const failure = new Promise<Outcome>(resolve => {
    void done.then(o => (o.ok ? undefined : resolve(o)));
  });
  return Object.assign(done, { done: failure, stop: () => stop() });
}
