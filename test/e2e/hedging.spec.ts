/**
 * Hedging over real sockets: two servers serve an idempotent pattern, one
 * of them never answers it. A hedged call whose first attempt went to the
 * silent server is answered by the other, and the silent server's handler
 * is cancelled (its teardown runs): the first answer wins, the loser is
 * told CANCEL. A call's ZmqRecord reaches the server as its data alone.
 */
import 'reflect-metadata';
import { Controller, Type } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, Observable } from 'rxjs';
import { ClientZmq, ZmqRecord } from 'nestjs-zeromq';
import { within } from '../helpers/async';
import { Harness } from '../helpers/nest';

/** What the silent server's handlers did: started, and torn down (a CANCEL, or its session's end). */
interface Silent {
  started: number;
  cancelled: number;
}

/** The data of every `seen` event either server received. */
const seen: unknown[] = [];

function controllerFor(name: 'fast' | 'silent', silent: Silent): Type<unknown> {
  @Controller()
  class HedgedController {
    @MessagePattern('get', { idempotent: true })
    get(@Payload() id: unknown) {
      if (name === 'fast') return `fast:${JSON.stringify(id)}`;
      return new Observable<string>(() => {
        silent.started++;
        return () => void silent.cancelled++;
      });
    }

    @EventPattern('seen')
    onSeen(@Payload() data: unknown) {
      seen.push(data);
    }
  }
  return HedgedController;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  await within(
    (async () => {
      for (let i = 0; i < 1_000_000 && !condition(); i++) await new Promise(resolve => setImmediate(resolve));
    })(),
    10_000,
    what,
  );
}

describe('hedging over real sockets', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  async function mesh(options: Record<string, unknown>) {
    const silent: Silent = { started: 0, cancelled: 0 };
    const s = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [controllerFor('silent', silent)] });
    const f = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [controllerFor('fast', silent)] });
    const client: ClientZmq = await h.connectClient([s.endpoint, f.endpoint], { strategy: 'round-robin', ...options });
    await until(() => client.getPeers().length === 2, 'both servers joined');
    return { silent, client, s, f };
  }

  it('[C-18] [C-19] a call first sent to a server that does not answer is answered by a hedge; the silent server is cancelled', async () => {
    const { silent, client, s } = await mesh({ hedging: { delayMs: 50 } });
    // Round-robin from a fresh client: one first attempt per server; the silent one's call is hedged.
    const replies = await within(
      Promise.all([1, 2].map(id => firstValueFrom(client.send<string>('get', id)))),
      10_000,
      'both calls answered',
    );
    expect(replies).toEqual(['fast:1', 'fast:2']);
    await until(() => silent.cancelled === silent.started, 'every handler started on the silent server was cancelled');
    expect(silent.started).toBeGreaterThanOrEqual(1);
    const resilience = client.getStats().resilience!;
    expect(resilience.hedgesWon).toBe(1); // the call first sent to the silent server
    expect(resilience.hedges).toBeGreaterThanOrEqual(1);
    const get = client.getMetrics().patterns['get']!;
    expect(get).toMatchObject({ requests: 2, ok: 2, hedgesWon: 1 });
    expect(get.hedges).toBe(resilience.hedges);
    await until(() => (s.server.getMetrics().patterns['get']?.cancels ?? 0) === silent.started, 'cancels counted');
  });

  it('a ZmqRecord hedges one call of a client without hedging; the server gets its data alone, of a call or an event', async () => {
    const { silent, client } = await mesh({});
    const replies = await within(
      Promise.all(
        [{ id: 1 }, { id: 2 }].map(data =>
          firstValueFrom(client.send<string>('get', new ZmqRecord(data, { hedge: { delayMs: 50 } }))),
        ),
      ),
      10_000,
      'both calls answered',
    );
    expect(replies).toEqual(['fast:{"id":1}', 'fast:{"id":2}']);
    await until(() => silent.cancelled === silent.started, 'the silent server was cancelled');
    expect(client.getStats().resilience!.hedgesWon).toBe(1);
    seen.length = 0;
    client.emit('seen', new ZmqRecord({ id: 3 }, { retry: false }));
    await until(() => seen.length > 0, 'the event arrived');
    expect(seen).toEqual([{ id: 3 }]);
  });

  it("a ZmqRecord's timeout ends that call with TIMEOUT and cancels it on its server", async () => {
    const silent: Silent = { started: 0, cancelled: 0 };
    const s = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [controllerFor('silent', silent)] });
    const client = await h.connectClient(s.endpoint, { requestTimeout: 60_000 });
    const err = await within(
      firstValueFrom(client.send('get', new ZmqRecord(1, { timeout: 100 }))).then(
        () => undefined,
        (e: unknown) => e,
      ),
      10_000,
      'the call timed out',
    );
    expect(err).toMatchObject({ code: 'TIMEOUT', timeoutMs: 100 });
    await until(() => silent.cancelled === 1, 'the server cancelled the call');
    expect(silent.started).toBe(1);
  });
});
