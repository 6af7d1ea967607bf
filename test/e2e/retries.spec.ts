/**
 * Idempotent calls survive a lost server over real sockets: a handler that
 * declares `{ idempotent: true }` is announced in the WELCOME, and the client
 * sends its call again to another server when the first one leaves before
 * answering. A call of any other pattern is never sent twice. Overload: a
 * server past its per-peer budget answers OVERLOADED at once.
 */
import 'reflect-metadata';
import { Controller, Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { ZmqErrorCode } from 'nestjs-zeromq';
import { deferred, rejectionOf, within } from '../helpers/async';
import { Harness } from '../helpers/nest';

/** Runs of each handler, by server and pattern. */
const runs = new Map<string, number>();
const count = (key: string) => runs.set(key, (runs.get(key) ?? 0) + 1);

function controllerFor(name: string, stuck: Promise<void>): Type<unknown> {
  @Controller()
  class ServerController {
    @MessagePattern('get', { idempotent: true })
    async get(@Payload() id: number) {
      count(`${name}:get`);
      if (name === 'a') await stuck; // server a never answers before it closes
      return `${name}:${id}`;
    }

    @MessagePattern('create')
    async create(@Payload() id: number) {
      count(`${name}:create`);
      if (name === 'a') await stuck;
      return `${name}:${id}`;
    }
  }
  return ServerController;
}

describe('retries of idempotent calls', () => {
  const h = new Harness();
  afterEach(async () => {
    runs.clear();
    await h.closeAll();
  });

  it('[S-33] [C-15] a call to a server that leaves before answering is answered by another; a non-idempotent one fails PEER_LOST', async () => {
    const stuck = deferred();
    const a = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [controllerFor('a', stuck.promise)],
      options: { drainTimeout: 0 },
    });
    const b = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [controllerFor('b', stuck.promise)] });
    const client = await h.connectClient([a.endpoint, b.endpoint], { strategy: 'round-robin' });
    await within(
      (async () => {
        for (let i = 0; i < 1_000_000 && client.getPeers().length < 2; i++)
          await new Promise(resolve => setImmediate(resolve));
      })(),
      5_000,
      'both servers joined',
    );
    // Round-robin from a fresh client: one call of each pattern lands on each server; those on a hang.
    const calls = [1, 2].flatMap(id => [
      { pattern: 'get', id, reply: firstValueFrom(client.send('get', id)) },
      { pattern: 'create', id, reply: firstValueFrom(client.send('create', id)) },
    ]);
    for (const c of calls) c.reply.catch(() => undefined);
    await within(
      (async () => {
        for (let i = 0; i < 1_000_000 && (runs.get('a:get') ?? 0) + (runs.get('a:create') ?? 0) === 0; i++)
          await new Promise(resolve => setImmediate(resolve));
      })(),
      5_000,
      'a call reached server a',
    );
    await a.app.close(); // BYE: the calls in progress on a are lost
    stuck.resolve();
    const outcomes = await within(
      Promise.all(
        calls.map(c =>
          c.reply.then(
            v => ({ ok: v as string }),
            (e: { code: string }) => ({ err: e.code }),
          ),
        ),
      ),
      10_000,
      'every call ended',
    );
    for (const [i, c] of calls.entries()) {
      const outcome = outcomes[i]!;
      // Every idempotent call is answered, by b; a create either reached b or was lost with a.
      if (c.pattern === 'get') expect(outcome).toEqual({ ok: `b:${c.id}` });
      else expect('ok' in outcome ? outcome.ok : outcome.err).toMatch(/^(b:\d|PEER_LOST)$/);
    }
    // A create that reached a was never sent to b.
    const createsOnA = runs.get('a:create') ?? 0;
    const lostCreates = outcomes.filter((o, i) => calls[i]!.pattern === 'create' && 'err' in o);
    expect(lostCreates).toHaveLength(createsOnA);
    expect((runs.get('a:create') ?? 0) + (runs.get('b:create') ?? 0)).toBe(2);
    expect(client.getStats().resilience!.retries).toBe(runs.get('a:get') ?? 0);
  });

  it('[S-31] a server answers OVERLOADED at once past its per-peer budget, and runs none of those calls', async () => {
    const stuck = deferred();
    const a = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [controllerFor('a', stuck.promise)],
      options: { maxCallsPerPeer: 2, drainTimeout: 0 },
    });
    const client = await h.connectClient(a.endpoint);
    const replies = [1, 2, 3, 4].map(id => firstValueFrom(client.send('create', id)));
    const shed = await within(
      Promise.all([rejectionOf(replies[2]!), rejectionOf(replies[3]!)]),
      5_000,
      'the calls past the budget were refused',
    );
    expect(shed.map(e => (e as { code: string }).code)).toEqual([ZmqErrorCode.OVERLOADED, ZmqErrorCode.OVERLOADED]);
    expect(runs.get('a:create')).toBe(2);
    expect(a.server.getStats().admission!.shedByReason['peer-limit']).toBe(2);
    stuck.resolve();
    await expect(Promise.all(replies.slice(0, 2))).resolves.toEqual(['a:1', 'a:2']);
  });
});

describe('overload: a caller that gave up', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  it('[S-32] a request whose caller gave up while it waited is never started', async () => {
    let started = 0;
    @Controller()
    class SlowController {
      @MessagePattern('slow')
      slow() {
        started++;
        const end = performance.now() + 20; // 20 ms of CPU, longer than a turn's slice
        while (performance.now() < end);
        return 'done';
      }
    }
    const s = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [SlowController] });
    const client = await h.connectClient(s.endpoint, { requestTimeout: 50 });
    const calls = Array.from({ length: 50 }, () => rejectionOf(firstValueFrom(client.send('slow', 1))));
    const errors = await within(Promise.all(calls), 10_000, 'every call ended');
    expect(errors.every(e => e === undefined || (e as { code: string }).code === ZmqErrorCode.TIMEOUT)).toBe(true);
    // Every request either started, or never started because its caller gave up while it waited: its deadline
    // passed, its CANCEL came, or (on a starved machine, where the queue stands long enough to count as overload)
    // it was shed.
    const settled = () => {
      const { abandoned, cancelled, shed } = s.server.getStats().admission!;
      return started + abandoned + cancelled + shed;
    };
    await within(
      (async () => {
        for (let i = 0; i < 1_000_000 && settled() < 50; i++) await new Promise(resolve => setImmediate(resolve));
      })(),
      10_000,
      'the server went through every request',
    );
    const { abandoned, cancelled, shed } = s.server.getStats().admission!;
    expect(started).toBeLessThan(50);
    expect(abandoned + cancelled + shed).toBe(50 - started);
    expect(abandoned + cancelled).toBeGreaterThan(0);
  });
});
