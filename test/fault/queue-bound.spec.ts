/**
 * The outbound queue of a client socket is bounded: overflow is a typed
 * error on the call that overflowed, never a hang or an EBUSY.
 */
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { silentLogger } from '../helpers/nest';
import type { INestMicroservice } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import { ClientZmq, ServerZmq, ZmqError, ZmqQueueFullError } from 'nestjs-zeromq';

let handled = 0;

@Controller()
class DoubleController {
  @MessagePattern('double')
  double(@Payload() n: number) {
    handled++;
    return n * 2;
  }
}

@Module({ controllers: [DoubleController] })
class DoubleModule {}

let app: INestMicroservice;
let server: ServerZmq;
let client: ClientZmq;

beforeAll(async () => {
  const mod = await Test.createTestingModule({ imports: [DoubleModule] })
    .setLogger(silentLogger)
    .compile();
  server = new ServerZmq({ bind: 'tcp://127.0.0.1:*' });
  app = mod.createNestMicroservice({ strategy: server, logger: false });
  await app.listen();
  client = new ClientZmq({ connect: server.endpoints[0]!, sendQueueLimit: 50, requestTimeout: 10_000 });
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await app?.close();
});

it('[S-13] fails overflowing sends with QUEUE_FULL and answers all the others correctly', async () => {
  const N = 500;
  const outcomes = Array.from({ length: N }, (_, i) =>
    firstValueFrom(client.send<number>('double', i)).then(
      value => ({ i, value, err: undefined as unknown }),
      (err: unknown) => ({ i, value: undefined, err }),
    ),
  );
  const results = await Promise.all(outcomes);
  const failed = results.filter(r => r.err !== undefined);
  const ok = results.filter(r => r.err === undefined);

  expect(failed.length).toBeGreaterThan(0);
  expect(ok.length).toBeGreaterThanOrEqual(50);
  expect(failed.length + ok.length).toBe(N);
  for (const r of failed) {
    expect(r.err).toBeInstanceOf(ZmqQueueFullError);
    expect(r.err).toBeInstanceOf(ZmqError);
    expect((r.err as ZmqError).code).toBe('QUEUE_FULL');
  }
  for (const r of ok) expect(r.value).toBe(r.i * 2);
  // A failed send never reached the server; every accepted one ran once.
  expect(handled).toBe(ok.length);
  expect(client.getStats().inFlight).toBe(0);
  expect(client.getStats().queued).toBe(0);

  // The queue drained: the client works normally afterwards.
  expect(await firstValueFrom(client.send<number>('double', 21))).toBe(42);
});
