import 'reflect-metadata';
import { createServer } from 'node:net';
import type { DynamicModule, INestMicroservice, LoggerService, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ClientZmq, ServerZmq, ZmqClientOptions, ZmqServerOptions } from 'nestjs-zeromq';
import { TempDirs } from './transports';

type Closeable = { close(): unknown };

const noop = () => undefined;
/**
 * A logger that prints nothing. `TestingModuleBuilder.compile()` resets Nest's
 * global logger (to one printing errors), so every testing module of these
 * suites sets this one: expected errors (a handler throwing on purpose) stay
 * out of the output; unexpected ones fail assertions instead.
 */
export const silentLogger: LoggerService = {
  log: noop,
  error: noop,
  warn: noop,
  debug: noop,
  verbose: noop,
  fatal: noop,
};

/**
 * Everything a test opened, closed in reverse order by `closeAll()` (call it
 * from afterEach / afterAll) so Jest exits without open handles.
 */
export class Harness {
  readonly dirs = new TempDirs();
  private readonly open: Closeable[] = [];

  track<T extends Closeable>(resource: T): T {
    this.open.push(resource);
    return resource;
  }

  async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const resource of this.open.splice(0).reverse()) {
      try {
        await resource.close();
      } catch (err) {
        errors.push(err);
      }
    }
    this.dirs.cleanup();
    if (errors.length > 0) throw new AggregateError(errors, 'closing e2e resources failed');
  }

  /**
   * Compiles `imports` / `controllers` into a testing module, creates a Nest
   * microservice whose strategy is a ServerZmq bound to `bind`, and listens.
   * `endpoint` is the first bound endpoint with a `*` port resolved.
   */
  async startServer(spec: {
    bind: string | string[];
    controllers?: Type<unknown>[];
    imports?: Array<Type<unknown> | DynamicModule>;
    providers?: any[];
    options?: Omit<ZmqServerOptions, 'bind'>;
  }): Promise<{ app: INestMicroservice; server: ServerZmq; endpoint: string }> {
    const module = await Test.createTestingModule({
      imports: spec.imports ?? [],
      controllers: spec.controllers ?? [],
      providers: spec.providers ?? [],
    })
      .setLogger(silentLogger)
      .compile();
    const server = new ServerZmq({ ...spec.options, bind: spec.bind });
    const app = module.createNestMicroservice({ strategy: server, logger: false });
    this.track(app);
    await app.listen();
    return { app, server, endpoint: server.endpoints[0]! };
  }

  /** A connected ClientZmq (closed by `closeAll()`). */
  async connectClient(connect: string | string[], options: Omit<ZmqClientOptions, 'connect'> = {}): Promise<ClientZmq> {
    const client = this.track(new ClientZmq({ ...options, connect }));
    await client.connect();
    return client;
  }
}

/** A tcp endpoint on 127.0.0.1 where nothing listens (a port the OS just handed out and took back). */
export async function deadTcpEndpoint(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const address = srv.address();
  await new Promise<void>(resolve => srv.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no tcp address');
  return `tcp://127.0.0.1:${address.port}`;
}

/** `typeof client.setOnDispatchHook === 'function'`: Nest 12 packet metadata support. */
export function hasDispatchHook(client: ClientZmq): boolean {
  return typeof (client as unknown as { setOnDispatchHook?: unknown }).setOnDispatchHook === 'function';
}
