import { DynamicModule, FactoryProvider, InjectionToken, Module, ModuleMetadata, Provider } from '@nestjs/common';
import type { ZmqClientOptions } from '../interfaces/zmq-options.interface.js';
import { ClientZmq } from './client-zmq.js';

/** One client of {@link ZmqClientsModule.register}: its injection token and its options, typed. */
export interface ZmqClientRegistration extends ZmqClientOptions {
  /** The token to inject it with: `@Inject('MATH') math: ClientZmq`. */
  name: InjectionToken;
}

/** One client of {@link ZmqClientsModule.registerAsync}: options from a factory, with its dependencies. */
export interface ZmqClientAsyncRegistration extends Pick<ModuleMetadata, 'imports'> {
  name: InjectionToken;
  /** Returns the client's options (typed: a misspelt key fails to compile). */
  useFactory: (...args: any[]) => ZmqClientOptions | Promise<ZmqClientOptions>;
  /** Providers passed to `useFactory`, in order. */
  inject?: FactoryProvider['inject'];
  /** Providers only the factory needs. */
  extraProviders?: Provider[];
}

/** Like Nest's `ClientsModule`: the client closes on application shutdown. */
function closingOnShutdown(client: ClientZmq): ClientZmq {
  (client as ClientZmq & { onApplicationShutdown?: () => Promise<void> }).onApplicationShutdown = () => client.close();
  return client;
}

/**
 * `ClientsModule` for ZeroMQ clients, with the options typed: Nest types a
 * custom transport's options as `Record<string, any>`, so a typo there
 * compiles; here it does not. (Both forms also check every key at run time.)
 *
 * ```ts
 * @Module({
 *   imports: [ZmqClientsModule.register([{ name: 'MATH', connect: 'tcp://127.0.0.1:4000' }])],
 * })
 * class GatewayModule {}
 *
 * // options from configuration:
 * ZmqClientsModule.registerAsync([
 *   { name: 'MATH', imports: [ConfigModule], inject: [ConfigService],
 *     useFactory: (config: ConfigService) => ({ connect: config.getOrThrow('MATH_URL') }) },
 * ]);
 * ```
 */
@Module({})
export class ZmqClientsModule {
  /** One `ClientZmq` provider per entry, exported, closed on application shutdown. */
  static register(clients: ZmqClientRegistration[], options: { isGlobal?: boolean } = {}): DynamicModule {
    const providers: Provider[] = clients.map(({ name, ...clientOptions }) => ({
      provide: name,
      useValue: closingOnShutdown(new ClientZmq(clientOptions)),
    }));
    return { module: ZmqClientsModule, global: options.isGlobal, providers, exports: clients.map(c => c.name) };
  }

  /** The same with each client's options from a factory (configuration, secrets...). */
  static registerAsync(clients: ZmqClientAsyncRegistration[], options: { isGlobal?: boolean } = {}): DynamicModule {
    const providers: Provider[] = clients.map(client => ({
      provide: client.name,
      useFactory: async (...args: unknown[]) => closingOnShutdown(new ClientZmq(await client.useFactory(...args))),
      inject: client.inject ?? [],
    }));
    return {
      module: ZmqClientsModule,
      global: options.isGlobal,
      imports: clients.flatMap(c => c.imports ?? []),
      providers: [...providers, ...clients.flatMap(c => c.extraProviders ?? [])],
      exports: clients.map(c => c.name),
    };
  }
}
