import 'reflect-metadata';
import { readFileSync } from 'node:fs';
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

/**
 * The first port of the kernel's ephemeral range (ip_local_port_range):
 * ports the kernel hands out for `bind(0)` and outgoing connections are at or
 * above it.
 */
export function ephemeralPortStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 2_048) return low;
  } catch {
    // not Linux: the IANA range
  }
  return 49_152;
}

/** Whether a listener on 127.0.0.1:`port` opens (it is closed again at once): false when the port is taken. */
async function portIsFree(port: number): Promise<boolean> {
  const srv = createServer();
  const listening = await new Promise<boolean>(resolve => {
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
  });
  if (listening) await new Promise<void>(resolve => srv.close(() => resolve()));
  return listening;
}

/**
 * A tcp endpoint on 127.0.0.1 where nothing listens, for a server a test
 * starts (and restarts) there later. Its port is below the kernel's
 * ephemeral range, so that no `bind(0)` (every `tcp://127.0.0.1:*` server of
 * the other Jest worker and of any other process) and no outgoing connection
 * takes it between the test's binds. At most 100 random ports are tried.
 */
export async function deadTcpEndpoint(): Promise<string> {
  const high = ephemeralPortStart();
  const low = Math.max(1_024, high - 12_000);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await portIsFree(port)) return `tcp://127.0.0.1:${port}`;
  }
  throw new Error(`no free port below ${high} in 100 tries`);
}

/** `typeof client.setOnDispatchHook === 'function'`: Nest 12 packet metadata support. */
export function hasDispatchHook(client: ClientZmq): boolean {
  return typeof (client as unknown as { setOnDispatchHook?: unknown }).setOnDispatchHook === 'function';
}
