/**
 * The Nest gRPC contender (`nest-grpc`): Nest's own gRPC transport
 * (@grpc/grpc-js, @grpc/proto-loader) serving bench/echo.proto, the closest
 * Nest transport in features (unary calls and server streams). Small, 64 KiB
 * string and 64 KiB object payloads each have their typed rpc.
 */
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientGrpc, ClientProxyFactory, GrpcMethod, MicroserviceOptions, Transport } from '@nestjs/microservices';
import { firstValueFrom, Observable } from 'rxjs';
import type { Driver } from './client';
import { freePort, ObjectPayload, pumpItems, SmallPayload } from './common';
import type { BenchServer } from './server';

/** bench/echo.proto, from the sources (ts-register) or from run.ts's build folder (.bench-results/build-<pid>/bench). */
function protoPath(): string {
  const candidates = [join(__dirname, 'echo.proto'), join(__dirname, '..', '..', '..', 'bench', 'echo.proto')];
  const found = candidates.find(p => existsSync(p));
  if (found === undefined) throw new Error(`echo.proto not found in ${candidates.join(', ')}`);
  return found;
}

const LOADER = { keepCase: true, defaults: true, arrays: true };

@Controller()
class EchoGrpcController {
  @GrpcMethod('Echo', 'Small')
  small(data: SmallPayload): SmallPayload {
    return data;
  }

  @GrpcMethod('Echo', 'Large')
  large(data: { value: string }): { value: string } {
    return data;
  }

  @GrpcMethod('Echo', 'Rows')
  rows(data: ObjectPayload): ObjectPayload {
    return data;
  }

  @GrpcMethod('Echo', 'Stream')
  stream(data: { n: number }): Observable<{ value: number }> {
    return new Observable(subscriber =>
      pumpItems(
        data.n,
        i => subscriber.next({ value: i }),
        () => subscriber.complete(),
      ),
    );
  }
}

@Module({ controllers: [EchoGrpcController] })
class EchoGrpcModule {}

export async function startGrpcServer(): Promise<BenchServer> {
  const url = `127.0.0.1:${await freePort()}`;
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(EchoGrpcModule, {
    transport: Transport.GRPC,
    options: { package: 'bench', protoPath: protoPath(), url, loader: LOADER },
    logger: false,
  });
  await app.listen();
  return { endpoint: url, close: () => app.close() };
}

interface EchoService {
  small(data: SmallPayload): Observable<SmallPayload>;
  large(data: { value: string }): Observable<{ value: string }>;
  rows(data: ObjectPayload): Observable<ObjectPayload>;
  stream(data: { n: number }): Observable<{ value: number }>;
}

export async function connectGrpcClient(endpoint: string): Promise<Driver> {
  const client = ClientProxyFactory.create({
    transport: Transport.GRPC,
    options: { package: 'bench', protoPath: protoPath(), url: endpoint, loader: LOADER },
  }) as unknown as ClientGrpc & { close(): void };
  const echo = client.getService<EchoService>('Echo');
  // The first call opens the channel: done here, as the other contenders connect before measuring.
  await firstValueFrom(echo.small({ seq: -1, user: '', roles: [], note: '' }));
  return {
    call: async data => {
      if (typeof data === 'string') return (await firstValueFrom(echo.large({ value: data }))).value;
      if (typeof data === 'object' && data !== null && 'rows' in data) {
        return firstValueFrom(echo.rows(data as ObjectPayload));
      }
      return firstValueFrom(echo.small(data as SmallPayload));
    },
    stream: (n, onItem) =>
      new Promise((resolve, reject) => {
        echo.stream({ n }).subscribe({ next: item => onItem(item.value), error: reject, complete: resolve });
      }),
    close: () => client.close(),
  };
}
