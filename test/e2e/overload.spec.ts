/**
 * Overload over real sockets: a server whose handler holds the CPU for 1 ms
 * gets calls far faster than it runs them. It becomes overloaded (its
 * getStats() says so), runs shorter turns (half its queue target), answers
 * OVERLOADED to what waited past the target while it answers the rest, and
 * is back to flowing once the calls stop.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { ZmqErrorCode } from 'nestjs-zeromq';
import { within } from '../helpers/async';
import { Harness } from '../helpers/nest';

@Controller()
class WorkController {
  @MessagePattern('work')
  work(@Payload() n: number): number {
    const end = performance.now() + 1;
    while (performance.now() < end) {
      // the handler's CPU time
    }
    return n;
  }
}

const tick = () => new Promise(resolve => setImmediate(resolve));

describe('overload', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  it('a server flooded with calls is overloaded: shorter turns, the stale shed OVERLOADED, the rest answered; then flowing again', async () => {
    const s = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [WorkController] });
    // A 2 s deadline: a request is shed once it waited max(5 ms, 2 % of 2 s) = 40 ms while the server is overloaded.
    const client = await h.connectClient(s.endpoint, { requestTimeout: 2_000 });
    const admission = () => s.server.getStats().admission!;
    expect(admission().turnSliceMs).toBe(10);

    const calls: Array<Promise<{ ok: number } | { err: unknown }>> = [];
    let settled = 0;
    let sliceWhileOverloaded: number | undefined;
    const wave = () => {
      for (let i = 0; i < 40 && calls.length - settled < 2_000; i++) {
        const reply = firstValueFrom(client.send<number>('work', calls.length));
        const outcome = reply.then(
          ok => ({ ok }),
          (err: unknown) => ({ err }),
        );
        calls.push(outcome.finally(() => settled++));
      }
    };
    // Waves of 40 calls (40 ms of handler time) as fast as the client sends them, at most 2,000 unanswered, until
    // the server is overloaded; then 100 waves more, so that a queue stands while it is (newest first: the oldest
    // wait past 40 ms and are shed).
    for (let n = 0; n < 5_000 && sliceWhileOverloaded === undefined; n++) {
      wave();
      await tick();
      const now = admission();
      if (now.state === 'overloaded') sliceWhileOverloaded = now.turnSliceMs;
    }
    for (let n = 0; n < 100; n++) {
      wave();
      await tick();
    }
    expect(sliceWhileOverloaded).toBe(2.5);

    const outcomes = await within(Promise.all(calls), 30_000, 'every call settled');
    const codes = new Set(outcomes.flatMap(o => ('err' in o ? [(o.err as { code?: string }).code] : [])));
    expect([...codes]).toEqual([ZmqErrorCode.OVERLOADED]);
    expect(outcomes.some(o => 'ok' in o)).toBe(true);
    expect(admission().shedByReason['queue-age']).toBeGreaterThan(0);

    // Nothing arrives any more: overload ends once an interval passed in which every turn emptied the queue.
    await within(
      (async () => {
        for (let i = 0; i < 1_000_000 && admission().state !== 'flowing'; i++) await tick();
      })(),
      10_000,
      'the server flows again',
    );
    expect(admission()).toMatchObject({ state: 'flowing', waiting: 0, turnSliceMs: 10, oldestWaitMs: 0 });
  });
});
