/**
 * No silent truncation: a stream that outruns the server's bounded
 * outbound queue ends with a typed QUEUE_FULL on both sides — the handler's
 * subscription is torn down, the caller gets every value it was sent, in
 * order, then the error — never a prefix followed by silence.
 * The caller here offers no credit (`streamWindow: 0`, as a 1.0 peer): with
 * credit the same burst waits in the stream's buffer and arrives whole
 * (test/e2e/burst.spec.ts, PROTOCOL.md §5.8).
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, Observable } from 'rxjs';
import { ClientZmq, ServerZmq } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';

const QUEUE_LIMIT = 200;
let tornDown = false;

@Controller()
class BurstController {
  /** `n` values emitted synchronously, as `from(array)` would, stopping when unsubscribed. */
  @MessagePattern('burst')
  burst(@Payload() n: number): Observable<number> {
    return new Observable<number>(subscriber => {
      for (let i = 0; i < n && !subscriber.closed; i++) subscriber.next(i);
      subscriber.complete();
      return () => {
        tornDown = true;
      };
    });
  }

  @MessagePattern('echo')
  echo(@Payload() v: unknown): unknown {
    return v;
  }
}

const h = new Harness();
let server: ServerZmq;
let client: ClientZmq;

beforeAll(async () => {
  let endpoint: string;
  ({ server, endpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [BurstController],
    options: { sendQueueLimit: QUEUE_LIMIT },
  }));
  // streamWindow: 0: no credit, so the burst meets the socket's queue limit (the 1.0 behaviour, §5.8 fallback).
  client = await h.connectClient(endpoint, { requestTimeout: 10_000, streamWindow: 0 });
});

afterAll(() => h.closeAll());

it('[S-13] a burst beyond the queue ends with QUEUE_FULL after an in-order prefix, on both sides', async () => {
  tornDown = false;
  const values: number[] = [];
  const err = await new Promise<unknown>((resolve, reject) =>
    client.send<number>('burst', 50_000).subscribe({
      next: v => values.push(v),
      error: resolve,
      complete: () => reject(new Error(`completed after ${values.length} values: the overflow went unseen`)),
    }),
  );
  expect(err).toMatchObject({ code: 'QUEUE_FULL' });
  expect(values.length).toBeGreaterThan(0);
  expect(values.length).toBeLessThan(50_000);
  expect(values).toEqual(Array.from({ length: values.length }, (_, i) => i));
  expect(tornDown).toBe(true);
  expect(server.getStats().inFlight).toBe(0);
  expect(server.getStats().dropped.sendFailed).toBeGreaterThan(0);
  // The session goes on.
  await expect(firstValueFrom(client.send('echo', 'still here'))).resolves.toBe('still here');
});

it('a burst that fits the queue arrives whole', async () => {
  const values: number[] = [];
  await new Promise<void>((resolve, reject) =>
    client
      .send<number>('burst', QUEUE_LIMIT / 2)
      .subscribe({ next: v => values.push(v), error: reject, complete: resolve }),
  );
  expect(values).toEqual(Array.from({ length: QUEUE_LIMIT / 2 }, (_, i) => i));
});
