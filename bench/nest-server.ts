/**
 * The Nest side of the benchmark server: the one echo controller both Nest
 * contenders serve, over Nest's TCP transport or over ServerZmq.
 */
import 'reflect-metadata';
import { CallHandler, Controller, ExecutionContext, Injectable, Module, NestInterceptor } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, MicroserviceOptions, Payload, Transport } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import { ServerZmq } from '../lib';
import { benchCurveKeys, freePort, NestFlavour, pumpItems } from './common';
import type { BenchServer } from './server';
import { HeapAllocations, HeapSampler } from './usage';

/** This process's heap allocation while a block is measured, and with --heap-prof a sampling profile of the first. */
let heap: HeapAllocations | undefined;
let sampler: HeapSampler | undefined;

/** The one controller both Nest contenders serve. */
@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() data: unknown): unknown {
    return data;
  }

  /**
   * The bytes this process allocated since the previous call (the client asks
   * before and after each measured block; the counting runs only in between,
   * as it costs every collection some time). With --heap-prof, the first
   * block is sampled.
   */
  @MessagePattern('bench:alloc')
  allocated(): number {
    if (heap === undefined) {
      heap = new HeapAllocations();
      if (sampler === undefined) (sampler = new HeapSampler(`${process.argv[2]}-server`)).start();
      return 0;
    }
    sampler?.stop();
    const bytes = heap.stop();
    heap = undefined;
    return bytes;
  }

  /** `n` numbers, 0..n-1, produced in batches (see pumpItems). */
  @MessagePattern('stream')
  stream(@Payload() n: number): Observable<number> {
    return new Observable<number>(subscriber =>
      pumpItems(
        n,
        i => subscriber.next(i),
        () => subscriber.complete(),
      ),
    );
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

/** What many Nest apps install globally (logging, timing): with it, every handler's result is an Observable. */
@Injectable()
class PassThroughInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

export async function startNestServer(transport: NestFlavour): Promise<BenchServer> {
  const intercepted = transport.endsWith('-interceptor');
  if (transport === 'tcp' || transport === 'tcp-interceptor') {
    const port = await freePort();
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(EchoModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
      logger: false,
    });
    if (intercepted) app.useGlobalInterceptors(new PassThroughInterceptor());
    await app.listen();
    return { endpoint: `127.0.0.1:${port}`, close: () => app.close() };
  }
  const keys = transport === 'zmq-curve' ? benchCurveKeys() : undefined;
  const strategy = new ServerZmq({
    bind: 'tcp://127.0.0.1:*',
    codec: transport === 'zmq-msgpack' ? 'msgpack' : 'json',
    metrics: transport !== 'zmq-nometrics',
    // Admission as by default, but never shedding: on a loaded machine a request of the 64-in-flight workloads
    // can wait past its share of the deadline, and an OVERLOADED answer would end the run (Nest TCP never sheds).
    admission: { queueTarget: 0 },
    ...(keys !== undefined ? { curve: keys.server, allow: [keys.client.publicKey] } : {}),
  });
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(EchoModule, { strategy, logger: false });
  if (intercepted) app.useGlobalInterceptors(new PassThroughInterceptor());
  await app.listen();
  return { endpoint: strategy.endpoints[0]!, close: () => app.close() };
}
