/**
 * How Nest users register and configure the transport: ZmqClientsModule
 * (typed, sync and async), Nest's own ClientsModule path, and the run-time
 * option checks both constructors make (unknown keys with a suggestion,
 * endpoints), since the ClientsModule path cannot be type-checked.
 */
import 'reflect-metadata';
import { Controller, Inject, Injectable, Module, ValidationPipe } from '@nestjs/common';
import { ClientsModule, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { IsArray, IsInt } from 'class-validator';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import { ClientZmq, ServerZmq, ZmqClientsModule, ZmqErrorCode, ZmqOptionsError } from 'nestjs-zeromq';
import { Harness, silentLogger } from '../helpers/nest';

@Controller()
class MathController {
  @MessagePattern('sum')
  sum(@Payload() numbers: number[]): number {
    return numbers.reduce((a, b) => a + b, 0);
  }
}

class SumDto {
  @IsArray()
  @IsInt({ each: true })
  numbers!: number[];
}

// The README's "Pipes and guards" note: without an exceptionFactory the caller sees only "Internal server error".
@Controller()
class ValidatedController {
  @MessagePattern('validated-plain')
  plain(@Payload(new ValidationPipe()) input: SumDto): number {
    return input.numbers.length;
  }

  @MessagePattern('validated-rpc')
  rpc(
    @Payload(new ValidationPipe({ exceptionFactory: errors => new RpcException({ code: 'E_INVALID', errors }) }))
    input: SumDto,
  ): number {
    return input.numbers.length;
  }
}

@Injectable()
class Settings {
  constructor(readonly endpoint: string) {}
}

const h = new Harness();
let endpoint: string;

beforeAll(async () => {
  ({ endpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [MathController, ValidatedController],
  }));
});

afterAll(() => h.closeAll());

async function compile(imports: any[], providers: any[] = []) {
  const module = await Test.createTestingModule({ imports, providers }).setLogger(silentLogger).compile();
  await module.init();
  h.track({ close: () => module.close() });
  return module;
}

describe('ZmqClientsModule', () => {
  it('register() provides a typed ClientZmq under its name', async () => {
    const module = await compile([
      ZmqClientsModule.register([{ name: 'MATH', connect: endpoint, requestTimeout: 5000 }]),
    ]);
    const client = module.get<ClientZmq>('MATH');
    expect(client).toBeInstanceOf(ClientZmq);
    await expect(firstValueFrom(client.send<number>('sum', [1, 2, 3]))).resolves.toBe(6);
  });

  it('registerAsync() takes the options from a factory with injected dependencies', async () => {
    @Module({ providers: [{ provide: Settings, useFactory: () => new Settings(endpoint) }], exports: [Settings] })
    class SettingsModule {}
    const module = await compile([
      ZmqClientsModule.registerAsync([
        {
          name: 'MATH',
          imports: [SettingsModule],
          inject: [Settings],
          useFactory: (settings: Settings) => ({ connect: settings.endpoint }),
        },
      ]),
    ]);
    await expect(firstValueFrom(module.get<ClientZmq>('MATH').send<number>('sum', [4, 5]))).resolves.toBe(9);
  });

  it('clients are injectable by name and closed on application shutdown', async () => {
    @Injectable()
    class Caller {
      constructor(@Inject('MATH') readonly math: ClientZmq) {}
    }
    const module = await compile([ZmqClientsModule.register([{ name: 'MATH', connect: endpoint }])], [Caller]);
    const { math } = module.get(Caller);
    await firstValueFrom(math.send('sum', [1]));
    expect(math.getStats().peers).toBe(1);
    await module.close();
    expect(math.getStats().peers).toBe(0);
    expect(() => math.unwrap()).toThrow(/Not initialized/);
  });

  it('a misspelt option does not compile (checked by npm run typecheck) and throws at run time', () => {
    expect(() =>
      ZmqClientsModule.register([
        // @ts-expect-error -- "conect" is not an option: this line must not type-check.
        { name: 'MATH', conect: endpoint },
      ]),
    ).toThrow(ZmqOptionsError);
    expect(() =>
      ZmqClientsModule.register([
        // @ts-expect-error -- "hearbeatInterval" is not an option.
        { name: 'MATH', connect: endpoint, hearbeatInterval: 100 },
      ]),
    ).toThrow('Did you mean "heartbeatInterval"?');
  });
});

describe('pipes in RPC handlers (README "Pipes and guards")', () => {
  it('an HTTP exception from a pipe reaches the caller as "Internal server error"', async () => {
    const client = await h.connectClient(endpoint);
    await expect(firstValueFrom(client.send('validated-plain', { numbers: ['x'] }))).rejects.toMatchObject({
      message: 'Internal server error',
    });
  });

  it('a pipe whose exceptionFactory throws an RpcException sends its details', async () => {
    const client = await h.connectClient(endpoint);
    const err = await firstValueFrom(client.send('validated-rpc', { numbers: ['x'] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_INVALID' });
    const errors = (err as { error: { errors: Array<{ property: string }> } }).error.errors;
    expect(errors.map(e => e.property)).toEqual(['numbers']);
    await expect(firstValueFrom(client.send('validated-rpc', { numbers: [1, 2] }))).resolves.toBe(2);
  });
});

describe('run-time option checks', () => {
  it("Nest's ClientsModule path (options typed as any) fails where the module is declared, naming the key", () => {
    let err: unknown;
    try {
      ClientsModule.register([{ name: 'MATH', customClass: ClientZmq, options: { conect: endpoint } }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ZmqOptionsError);
    expect(err).toMatchObject({ code: ZmqErrorCode.INVALID_OPTIONS, option: 'conect' });
    expect((err as Error).message).toContain('Did you mean "connect"?');
  });

  it.each([
    [
      'client',
      () => new ClientZmq({ connect: endpoint, requestTimout: 1 } as never),
      'requestTimout',
      'requestTimeout',
    ],
    ['server', () => new ServerZmq({ bind: 'tcp://127.0.0.1:*', sendTimout: 1 } as never), 'sendTimout', 'sendTimeout'],
  ])('the %s constructor rejects an unknown key, naming the nearest known one', (_side, make, key, near) => {
    expect(make).toThrow(expect.objectContaining({ option: key, message: expect.stringContaining(`"${near}"`) }));
  });

  it('a key with no near match is named without a suggestion', () => {
    expect(() => new ClientZmq({ connect: endpoint, zzzzzzzz: 1 } as never)).toThrow(
      /unknown client option "zzzzzzzz"\.$/,
    );
  });

  it.each([
    ['localhost:4000', 'has no scheme'],
    ['tcp://127.0.0.1', 'has no port'],
    ['tcp://127.0.0.1:*', 'needs a port number'],
    ['tcp://*:4000', 'bad host'],
    ['tcp://127.0.0.1:70000', 'bad port'],
    ['udp://127.0.0.1:4000', 'scheme "udp"'],
    ['inproc://', 'no inproc name'],
  ])('the client rejects the endpoint %s at construction, naming it', (bad, why) => {
    expect(() => new ClientZmq({ connect: [endpoint, bad] })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', option: 'connect', message: expect.stringContaining(why) }),
    );
    expect(() => new ClientZmq({ connect: bad })).toThrow(bad);
  });

  it.each([
    ['tcp://127.0.0.1:4000x', 'bad port'],
    ['127.0.0.1:4000', 'has no scheme'],
    ['ipc://', 'no ipc name'],
  ])('the server rejects the endpoint %s at construction, naming it', (bad, why) => {
    expect(() => new ServerZmq({ bind: bad })).toThrow(
      expect.objectContaining({ option: 'bind', message: expect.stringContaining(why) }),
    );
  });

  it.each([
    'tcp://127.0.0.1:*',
    'tcp://*:*',
    'tcp://[::1]:*',
    'ipc:///tmp/x.sock',
    'inproc://svc',
    'tcp://localhost:4000',
  ])('the server accepts %s', bind => {
    expect(() => new ServerZmq({ bind })).not.toThrow();
  });

  it.each(['tcp://127.0.0.1:4000', 'tcp://[::1]:4000', 'tcp://math.default.svc.cluster.local:4000', 'ipc:///tmp/x'])(
    'the client accepts %s',
    connect => {
      expect(() => new ClientZmq({ connect })).not.toThrow();
    },
  );

  it('no options object at all is a typed error, not a TypeError from reading undefined', () => {
    expect(() => new ClientZmq(undefined as never)).toThrow(ZmqOptionsError);
    expect(() => new ServerZmq(undefined as never)).toThrow(ZmqOptionsError);
  });
});
