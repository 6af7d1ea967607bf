/**
 * The commonest call costs one envelope each way: a handler behind
 * an interceptor (Nest then hands the transport an Observable) is answered by
 * one CHUNK+END, and `firstValueFrom` / `lastValueFrom` callers send no CANCEL
 * and count no late reply.
 */
import 'reflect-metadata';
import {
  CallHandler,
  Controller,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, map, Observable } from 'rxjs';
import { Dealer } from 'zeromq';
import { ClientZmq } from 'nestjs-zeromq';
import { Harness } from '../helpers/nest';
import { ENC, FLAG_END, header, helloPayload, json, ParsedEnvelope, parseEnvelopes, T } from '../helpers/wire';

@Injectable()
class Doubling implements NestInterceptor {
  intercept(_ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map(v => (v as number) * 2));
  }
}

@Controller()
class InterceptedController {
  @UseInterceptors(Doubling)
  @MessagePattern('double-sum')
  sum(@Payload() numbers: number[]): number {
    return numbers.reduce((a, b) => a + b, 0);
  }

  @UseInterceptors(Doubling)
  @MessagePattern('double-sum-async')
  async sumLater(@Payload() numbers: number[]): Promise<number> {
    await new Promise(resolve => setImmediate(resolve));
    return numbers.reduce((a, b) => a + b, 0);
  }
}

const h = new Harness();
let endpoint: string;

beforeAll(async () => {
  ({ endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [InterceptedController] }));
});

afterAll(() => h.closeAll());

it.each(['double-sum', 'double-sum-async'])(
  '%s: the reply is one CHUNK with the END flag on the wire',
  async pattern => {
    const dealer = h.track(new Dealer({ linger: 0, receiveTimeout: 5000 }));
    dealer.connect(endpoint);
    await dealer.send([header(T.HELLO, { enc: ENC.JSON }), helloPayload(`raw-${pattern}`)]);
    expect(parseEnvelopes(await dealer.receive(), 0)[0]!.type).toBe(T.WELCOME);
    await dealer.send([header(T.REQUEST, { id: 1, enc: ENC.JSON, pattern }), json([1, 2, 3])]);
    const envelopes: ParsedEnvelope[] = [];
    const ended = () => envelopes.some(e => e.id === 1 && (e.type !== T.CHUNK || (e.flags & FLAG_END) !== 0));
    for (let i = 0; i < 10 && !ended(); i++) envelopes.push(...parseEnvelopes(await dealer.receive(), 0));
    // Then a PING: its PONG comes after anything more the server might have sent for the request.
    await dealer.send([header(T.PING), Buffer.alloc(0)]);
    for (let i = 0; i < 10 && !envelopes.some(e => e.type === T.PONG); i++) {
      envelopes.push(...parseEnvelopes(await dealer.receive(), 0));
    }
    const reply = envelopes.filter(e => e.id === 1);
    expect(reply.map(e => [e.type, e.flags & FLAG_END, e.body])).toEqual([[T.CHUNK, FLAG_END, 12]]);
  },
);

it('100 firstValueFrom / lastValueFrom calls count no late reply and leave nothing in flight', async () => {
  const client: ClientZmq = await h.connectClient(endpoint);
  const before = client.getStats().dropped.lateReply;
  for (let i = 0; i < 50; i++) {
    await expect(firstValueFrom(client.send<number>('double-sum', [i, 1]))).resolves.toBe(2 * (i + 1));
    await expect(lastValueFrom(client.send<number>('double-sum-async', [i]))).resolves.toBe(2 * i);
  }
  expect(client.getStats().dropped.lateReply).toBe(before);
  expect(client.getStats().inFlight).toBe(0);
});
