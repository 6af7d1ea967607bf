/**
 * Nest's processing hooks (`setOnProcessingStartHook` / `setOnProcessingEndHook`,
 * Nest 11 and 12): with none set, requests take the direct path; once a hook
 * is set, every request runs inside it, and the end hook runs once per
 * request, after its reply, whichever way it ended.
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, Observable, of, toArray } from 'rxjs';
import { ZmqContext, ZmqRemoteError } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';

const events: string[] = [];

@Controller()
class HookedController {
  @MessagePattern('echo')
  echo(@Payload() value: unknown, @Ctx() ctx: ZmqContext): unknown {
    events.push(`handler ${ctx.getPattern()}`);
    return value;
  }

  @MessagePattern('fail')
  fail(): never {
    throw new RpcException('refused');
  }

  @MessagePattern('reject')
  async reject(): Promise<never> {
    await Promise.resolve();
    throw new Error('rejected');
  }

  @MessagePattern('three')
  three(): Observable<number> {
    return of(1, 2, 3);
  }
}

const h = new Harness();
afterEach(() => h.closeAll());

describe('processing hooks', () => {
  beforeEach(() => {
    events.length = 0;
  });

  it('without hooks: values, thrown and rejected errors, streams', async () => {
    const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [HookedController] });
    const client = await h.connectClient(endpoint);
    await expect(firstValueFrom(client.send('echo', { a: 1 }))).resolves.toEqual({ a: 1 });
    await expect(firstValueFrom(client.send('fail', 0))).rejects.toThrow('refused');
    const rejected = await firstValueFrom(client.send('reject', 0)).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(ZmqRemoteError);
    await expect(lastValueFrom(client.send('three', 0).pipe(toArray()))).resolves.toEqual([1, 2, 3]);
    expect(events).toEqual(['handler echo']);
  });

  it('a start and an end hook wrap every request; the end hook runs once each, after the reply', async () => {
    const { endpoint, server } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [HookedController] });
    server.setOnProcessingStartHook((_transport, ctx, done) => {
      events.push(`start ${(ctx as ZmqContext).getPattern()}`);
      void done();
    });
    server.setOnProcessingEndHook((_transport, ctx) => {
      events.push(`end ${(ctx as ZmqContext).getPattern()}`);
    });
    const client = await h.connectClient(endpoint);
    await expect(firstValueFrom(client.send('echo', 'x'))).resolves.toBe('x');
    await expect(firstValueFrom(client.send('fail', 0))).rejects.toThrow('refused');
    await expect(lastValueFrom(client.send('three', 0).pipe(toArray()))).resolves.toEqual([1, 2, 3]);
    // The end hook of the last call may run just after its reply left: wait for it (bounded).
    for (let i = 0; i < 100 && events.filter(e => e.startsWith('end')).length < 3; i++) {
      await new Promise(resolve => setImmediate(resolve));
    }
    expect(events).toEqual([
      'start echo',
      'handler echo',
      'end echo',
      'start fail',
      'end fail',
      'start three',
      'end three',
    ]);
  });

  it('an end hook alone also takes the hooked path', async () => {
    const { endpoint, server } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [HookedController] });
    server.setOnProcessingEndHook((_transport, ctx) => events.push(`end ${(ctx as ZmqContext).getPattern()}`));
    const client = await h.connectClient(endpoint);
    await expect(firstValueFrom(client.send('echo', 1))).resolves.toBe(1);
    for (let i = 0; i < 100 && !events.includes('end echo'); i++) await new Promise(r => setImmediate(r));
    expect(events).toEqual(['handler echo', 'end echo']);
  });
});
