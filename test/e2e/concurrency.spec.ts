/**
 * Many calls in flight on one client: every reply must reach its own caller.
 * The server runs without admission control: a burst of 10,000 calls on a
 * starved machine can be shed OVERLOADED, as it should be, and this spec is
 * about correlation, not overload (test/unit/admission.spec.ts and
 * test/e2e/retries.spec.ts are).
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, toArray, range } from 'rxjs';
import { ClientZmq, ServerZmq } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';
import { bindEndpoint, TRANSPORTS } from '../helpers/transports';

@Controller()
class EchoController {
  @MessagePattern('tag')
  tag(@Payload() p: { i: number; s: string }) {
    return { i: p.i, s: p.s, sq: p.i * p.i };
  }

  @MessagePattern('tagAsync')
  async tagAsync(@Payload() i: number) {
    // Resolve out of order: odd inputs wait one macrotask longer.
    if (i % 2 === 1) await new Promise(resolve => setImmediate(resolve));
    return -i;
  }

  @MessagePattern('range')
  range(@Payload() p: { from: number; n: number }) {
    return range(p.from, p.n);
  }
}

describe.each(TRANSPORTS)('over %s', kind => {
  const h = new Harness();
  let server: ServerZmq;
  let client: ClientZmq;

  beforeAll(async () => {
    const started = await h.startServer({
      bind: bindEndpoint(kind, h.dirs),
      controllers: [EchoController],
      options: { admission: false },
    });
    server = started.server;
    client = await h.connectClient(started.endpoint);
  });
  afterAll(() => h.closeAll());

  test('10,000 concurrent send()s all complete, each with its own result', async () => {
    const n = 10_000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => firstValueFrom(client.send('tag', { i, s: `v${i}` }))),
    );
    expect(results).toHaveLength(n);
    const wrong = results.filter((r, i) => r.i !== i || r.s !== `v${i}` || r.sq !== i * i);
    expect(wrong).toEqual([]);
    expect(client.getStats().inFlight).toBe(0);
    expect(server.getStats().inFlight).toBe(0);
    expect(client.getStats().dropped.lateReply).toBe(0);
  });

  test('replies finishing out of order still reach their own callers', async () => {
    const n = 2_000;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => firstValueFrom(client.send('tagAsync', i))));
    expect(results.every((r, i) => r === -i)).toBe(true);
  });

  test('100 concurrent streams are not interleaved into one another', async () => {
    const streams = await Promise.all(
      Array.from({ length: 100 }, (_, k) =>
        lastValueFrom(client.send<number>('range', { from: k * 1000, n: 50 }).pipe(toArray())),
      ),
    );
    streams.forEach((values, k) => {
      expect(values).toEqual(Array.from({ length: 50 }, (_, j) => k * 1000 + j));
    });
    expect(client.getStats().inFlight).toBe(0);
    expect(server.getStats().inFlight).toBe(0);
  });
});
