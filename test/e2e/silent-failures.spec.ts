/**
 * Failures that must not be silent, over real sockets: a serializer on one
 * side only, an event nobody handles, a request over the server's
 * maxPayloadSize, and a request stream from a client whose own
 * `streamWindow` is 0. Each ends with a typed error with a code (and the
 * event is counted and logged), never a handler fed the wrong value or an
 * rxjs EmptyError.
 */
import 'reflect-metadata';
import { Controller, Logger, LoggerService } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, from } from 'rxjs';
import superjson from 'superjson';
import { ClientZmq, ZmqErrorCode } from 'nestjs-zeromq';
import { deferred, Probe, rejectionOf } from '../helpers/async';
import { Harness, silentLogger } from '../helpers/nest';

const probe = new Probe();

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() value: unknown) {
    probe.hit('echo', value);
    return value;
  }

  @MessagePattern('sum')
  async sum(@Payload() values: AsyncIterable<number>) {
    let total = 0;
    for await (const v of values) total += v;
    return total;
  }

  @EventPattern('user.created')
  created(@Payload() value: unknown) {
    probe.hit('user.created', value);
  }
}

const codec = {
  serializer: { serialize: (value: unknown) => superjson.stringify(value) },
  deserializer: { deserialize: (value: string) => superjson.parse(value) },
};

const h = new Harness();
beforeEach(() => probe.reset());
afterEach(async () => {
  Logger.overrideLogger(silentLogger);
  await h.closeAll();
});

async function server(options: Record<string, unknown> = {}) {
  return h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [EchoController], options });
}

describe('a serializer on one side only', () => {
  it('client serializer, server without deserializer: connect() fails HANDSHAKE_REFUSED, the handler never runs', async () => {
    const { endpoint, server: srv } = await server();
    const client = h.track(new ClientZmq({ connect: endpoint, connectTimeout: 5_000, ...codec }));
    const err = await rejectionOf(client.connect());
    expect(err.code).toBe(ZmqErrorCode.HANDSHAKE_REFUSED);
    expect(err.message).toContain('"serializer"');
    expect(err.message).toContain('"deserializer"');
    expect(srv.getStats().refused).toBeGreaterThanOrEqual(1);
    expect(probe.count('echo')).toBe(0);
  });

  it('server serializer, client without deserializer: connect() fails HANDSHAKE_REFUSED naming both options', async () => {
    const { endpoint } = await server(codec);
    const client = h.track(new ClientZmq({ connect: endpoint, connectTimeout: 5_000 }));
    const err = await rejectionOf(client.connect());
    expect(err.code).toBe(ZmqErrorCode.HANDSHAKE_REFUSED);
    expect(err.message).toContain('This server sends its replies through a "serializer"');
    expect(err.message).toContain('this client has no "deserializer"');
  });

  it('client with a deserializer only, server without a serializer: SERIALIZATION, not EmptyError', async () => {
    const { endpoint } = await server();
    const client = await h.connectClient(endpoint, { deserializer: codec.deserializer });
    const err = await rejectionOf(firstValueFrom(client.send('echo', '{"json":5}')));
    expect(err.code).toBe(ZmqErrorCode.SERIALIZATION);
    expect(err.message).toContain('does the server set a "serializer" too?');
  });

  it('server with a deserializer, client without a serializer: the caller gets SERIALIZATION, the handler never runs', async () => {
    const { endpoint } = await server({ deserializer: codec.deserializer });
    const client = await h.connectClient(endpoint);
    const err = await rejectionOf(firstValueFrom(client.send('echo', '{"json":5}')));
    expect(err.code).toBe(ZmqErrorCode.SERIALIZATION);
    expect(err.message).toContain('does the client set a "serializer" too?');
    expect(probe.count('echo')).toBe(0);
  });

  it('both sides with the pair work', async () => {
    const { endpoint } = await server(codec);
    const client = await h.connectClient(endpoint, codec);
    const when = new Date(Date.UTC(2026, 0, 1));
    expect(await firstValueFrom(client.send('echo', when))).toEqual(when);
  });
});

describe('an event nobody handles', () => {
  it('is counted in getStats().dropped.unsentEvent and logged with the nearest handled event', async () => {
    const { endpoint } = await server();
    const client = await h.connectClient(endpoint);
    const warned = deferred<string>();
    const capture: LoggerService = {
      ...silentLogger,
      warn: (message: unknown) => {
        if (typeof message === 'string' && message.includes('Event not sent')) warned.resolve(message);
      },
    };
    Logger.overrideLogger(capture);
    expect(client.getStats().dropped.unsentEvent).toBe(0);
    client.emit('user.creatd', { id: 1 }); // not subscribed: nobody else would see the error
    const line = await warned.promise;
    expect(line).toContain('NO_PEER');
    expect(line).toContain('Did you mean "user.created"?');
    expect(client.getStats().dropped.unsentEvent).toBe(1);
  });

  it('emitTo() / emitAll() of an event no server handles are counted too', async () => {
    const { endpoint } = await server();
    const client = await h.connectClient(endpoint);
    const to = client.emitTo(() => true, 'nobody.handles', 1);
    const all = client.emitAll('nobody.handles', 2);
    // Hot: both are sent (and fail) whether read or not; reading them here only waits for that.
    expect((await rejectionOf(firstValueFrom(to))).code).toBe(ZmqErrorCode.NO_PEER);
    expect((await rejectionOf(firstValueFrom(all))).code).toBe(ZmqErrorCode.NO_PEER);
    expect(client.getStats().dropped.unsentEvent).toBe(2);
  });
});

describe('a request over the server maxPayloadSize', () => {
  it('fails TOO_LARGE, not MALFORMED', async () => {
    const { endpoint } = await server({ maxPayloadSize: 1024 });
    const client = await h.connectClient(endpoint);
    const err = await rejectionOf(firstValueFrom(client.send('echo', 'x'.repeat(4096))));
    expect(err.code).toBe(ZmqErrorCode.TOO_LARGE);
    expect(err.message).toContain("server's maxPayloadSize");
    expect(probe.count('echo')).toBe(0);
  });
});

describe('a request stream from a client with streamWindow 0', () => {
  it('is told its own option is the cause', async () => {
    const { endpoint } = await server();
    const client = await h.connectClient(endpoint, { streamWindow: 0 });
    const err = await rejectionOf(firstValueFrom(client.send('sum', from([1, 2]))));
    expect(err.code).toBe(ZmqErrorCode.STREAM_UNSUPPORTED);
    expect(err.side).toBe('client');
    expect(err.message).toContain('"streamWindow" option is 0');
  });

  it('a server with streamWindow 0 is still named as the cause', async () => {
    const { endpoint } = await server({ streamWindow: 0 });
    const client = await h.connectClient(endpoint);
    const err = await rejectionOf(firstValueFrom(client.send('sum', from([1, 2]))));
    expect(err).toMatchObject({ code: ZmqErrorCode.STREAM_UNSUPPORTED, side: 'server' });
  });
});
