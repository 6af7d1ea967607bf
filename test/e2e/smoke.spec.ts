import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom, interval, lastValueFrom, take, toArray } from 'rxjs';
import { ClientZmq, ServerZmq } from 'nestjs-zeromq';

const events: unknown[] = [];
@Controller()
class MathController {
  @MessagePattern('sum') sum(@Payload() n: number[]) { return n.reduce((a, b) => a + b, 0); }
  @MessagePattern({ cmd: 'count' }) count(@Payload() n: number) { return interval(5).pipe(take(n)); }
  @MessagePattern('fail') fail() { throw new RpcException({ code: 'E_BAD', message: 'bad' }); }
  @EventPattern('audit') audit(@Payload() d: unknown) { events.push(d); }
}
@Module({ controllers: [MathController] }) class MathModule {}

test('smoke', async () => {
  const mod = await Test.createTestingModule({ imports: [MathModule] }).compile();
  const server = new ServerZmq({ bind: 'tcp://127.0.0.1:*' });
  const app = mod.createNestMicroservice({ strategy: server });
  await app.listen();
  const client = new ClientZmq({ connect: server.endpoints[0]! });
  await client.connect();
  expect(await firstValueFrom(client.send('sum', [1, 2, 3]))).toBe(6);
  expect(await lastValueFrom(client.send({ cmd: 'count' }, 5).pipe(toArray()))).toEqual([0, 1, 2, 3, 4]);
  await expect(firstValueFrom(client.send('fail', 1))).rejects.toMatchObject({ code: 'E_BAD', message: 'bad' });
  await expect(firstValueFrom(client.send('nope', 1))).rejects.toMatchObject({ code: 'NO_HANDLER' });
  const res = await Promise.all(Array.from({ length: 10000 }, (_, i) => firstValueFrom(client.send('sum', [i, 1]))));
  expect(res.every((v, i) => v === i + 1)).toBe(true);
  await client.close();
  await app.close();
});
