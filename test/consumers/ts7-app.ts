// Type-checked (never run) against the published typings by a TypeScript 7
// consumer app (test/consumers/run.mjs, `ts7`), with tsc --init's options
// (verbatimModuleSyntax, exactOptionalPropertyTypes, noUncheckedIndexedAccess)
// and skipLibCheck off: the options, events, errors, context and module of the
// public API as an app writes them.
import 'reflect-metadata';
import { Controller, Inject, Injectable, Module } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, type MicroserviceOptions } from '@nestjs/microservices';
import { firstValueFrom, type Observable } from 'rxjs';
import {
  ClientZmq,
  ServerZmq,
  ZmqClientsModule,
  ZmqContext,
  ZmqErrorCode,
  ZmqRemoteError,
  generateCurveKeyPair,
  type ZmqClientOptions,
  type ZmqPeerEvent,
  type ZmqServerOptions,
  type ZmqStats,
} from 'nestjs-zeromq';

const server = generateCurveKeyPair();
const client = generateCurveKeyPair();

const serverOptions: ZmqServerOptions = {
  bind: ['tcp://127.0.0.1:*', 'ipc:///tmp/ts7.sock'],
  curve: server,
  allow: [client.publicKey],
  drainTimeout: 1_000,
  codec: 'json',
};
const clientOptions: ZmqClientOptions = {
  connect: 'tcp://127.0.0.1:4000',
  curve: { serverKey: server.publicKey, ...client },
  strategy: 'least-pending',
  resolver: host => Promise.resolve([host]),
};

@Controller()
class Handlers {
  @MessagePattern('sum')
  sum(@Payload() numbers: number[], @Ctx() ctx: ZmqContext): number {
    const deadline: number | undefined = ctx.getDeadline();
    return numbers.reduce((a, b) => a + b, deadline === undefined ? 0 : 0);
  }
}

@Injectable()
class Caller {
  constructor(@Inject('MATH') private readonly math: ClientZmq) {}

  async sum(): Promise<number | string> {
    try {
      return await firstValueFrom(this.math.send<number, number[]>('sum', [1, 2]));
    } catch (err) {
      if (err instanceof ZmqRemoteError) return err.code;
      if ((err as { code?: string }).code === ZmqErrorCode.NO_PEER) return 'no peer';
      throw err;
    }
  }

  watch(): Observable<string> {
    this.math.on('peer:joined', (peer: ZmqPeerEvent) => void peer.peerId);
    const stats: ZmqStats = this.math.getStats();
    void stats.dropped;
    return this.math.status;
  }
}

@Module({
  imports: [ZmqClientsModule.register([{ name: 'MATH', ...clientOptions }])],
  controllers: [Handlers],
  providers: [Caller],
})
export class AppModule {}

export const microservice: MicroserviceOptions = { strategy: new ServerZmq(serverOptions) };
