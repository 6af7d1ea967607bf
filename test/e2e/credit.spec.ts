/**
 * Credit over real sockets (PROTOCOL.md §5.8): an async
 * generator or a Readable is pulled only as the caller takes values; a
 * pushing Observable that outruns its buffer ends in STREAM_OVERFLOW on both
 * sides (teardown runs, other calls go on); a client that offers no credit
 * (`streamWindow: 0`) still gets every stream, the 1.0 way.
 */
import 'reflect-metadata';
import { Readable } from 'node:stream';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, Observable, toArray } from 'rxjs';
import { ClientZmq, ServerZmq } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';
import { deferred, within } from '../helpers/async';

const WINDOW = 16;
/** Per call id of the generator: how many values it produced. */
const produced: number[] = [];
let generatorFinished = 0;
let generatorDone = deferred();
let pushTornDown = 0;

@Controller()
class StreamController {
  @MessagePattern('gen')
  async *gen(@Payload() n: number): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) {
        produced.push(i);
        yield await Promise.resolve(i);
      }
    } finally {
      generatorFinished++;
      generatorDone.resolve();
    }
  }

  @MessagePattern('readable')
  readable(@Payload() n: number): Readable {
    return Readable.from(Array.from({ length: n }, (_, i) => ({ i })));
  }

  /** `n` values of `size` characters pushed synchronously: no credit can pause it. */
  @MessagePattern('push')
  push(@Payload() p: { n: number; size: number }): Observable<string> {
    return new Observable<string>(subscriber => {
      const item = 'x'.repeat(p.size);
      for (let i = 0; i < p.n && !subscriber.closed; i++) subscriber.next(item);
      subscriber.complete();
      return () => void pushTornDown++;
    });
  }

  @MessagePattern('echo')
  echo(@Payload() v: unknown): unknown {
    return v;
  }
}

const h = new Harness();
let server: ServerZmq;
let endpoint: string;
let client: ClientZmq;

beforeAll(async () => {
  ({ server, endpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [StreamController],
    options: { streamBufferLimit: 64 * 1024 },
  }));
  client = await h.connectClient(endpoint, { streamWindow: WINDOW, requestTimeout: 20_000 });
});

afterAll(() => h.closeAll());

it('an async generator is pulled only as the caller takes values: never more than the window ahead', async () => {
  produced.length = 0;
  generatorFinished = 0;
  const n = 3_000;
  let taken = 0;
  let worstLead = 0;
  const values = await within(
    new Promise<number[]>((resolve, reject) => {
      const got: number[] = [];
      client.send<number>('gen', n).subscribe({
        next: v => {
          // What the generator produced beyond what this subscriber has taken.
          worstLead = Math.max(worstLead, produced.length - taken);
          got.push(v);
          taken++;
        },
        error: reject,
        complete: () => resolve(got),
      });
    }),
    15_000,
    'the generator stream',
  );
  expect(values).toEqual(Array.from({ length: n }, (_, i) => i));
  expect(worstLead).toBeLessThanOrEqual(WINDOW);
  expect(worstLead).toBeGreaterThan(0);
  expect(generatorFinished).toBe(1);
});

it('cancelling a generator stream returns the generator (its finally runs)', async () => {
  generatorFinished = 0;
  generatorDone = deferred();
  const first = await within(firstValueFrom(client.send<number>('gen', 1_000_000)), 5_000, 'first value');
  expect(first).toBe(0);
  await within(generatorDone.promise, 5_000, "the generator's finally");
  expect(generatorFinished).toBe(1);
  expect(server.getStats().inFlight).toBe(0);
});

it('a Readable is streamed under credit, every chunk in order', async () => {
  const values = await within(
    lastValueFrom(client.send<{ i: number }>('readable', 2_000).pipe(toArray())),
    15_000,
    'readable',
  );
  expect(values.map(v => v.i)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
});

it('[W-22] a push Observable past streamBufferLimit ends in STREAM_OVERFLOW on both sides; other calls go on', async () => {
  pushTornDown = 0;
  const got: string[] = [];
  const err = await within(
    new Promise<unknown>((resolve, reject) =>
      client.send<string>('push', { n: 10_000, size: 1_000 }).subscribe({
        next: v => got.push(v),
        error: resolve,
        complete: () => reject(new Error(`completed after ${got.length} values: the overflow went unseen`)),
      }),
    ),
    10_000,
    'the overflow',
  );
  expect(err).toMatchObject({ code: 'STREAM_OVERFLOW' });
  expect(got.length).toBeLessThan(10_000);
  expect(pushTornDown).toBe(1);
  expect(server.getStats().inFlight).toBe(0);
  await expect(firstValueFrom(client.send('echo', 'still here'))).resolves.toBe('still here');
});

it('a push Observable within the buffer arrives whole under credit', async () => {
  const values = await within(
    lastValueFrom(client.send<string>('push', { n: 50, size: 1_000 }).pipe(toArray())),
    10_000,
    'push within the buffer',
  );
  expect(values).toHaveLength(50);
});

it('a client that offers no credit (streamWindow: 0) still gets every stream, unthrottled', async () => {
  const plain = await h.connectClient(endpoint, { streamWindow: 0 });
  produced.length = 0;
  const values = await within(lastValueFrom(plain.send<number>('gen', 2_000).pipe(toArray())), 15_000, 'no credit');
  expect(values).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
});
