/**
 * ZmqHealthIndicator (nestjs-zeromq/terminus) in a real Nest app with
 * TerminusModule, against real servers: up with the PING round trip per
 * peer, down naming the unserved pattern, the endpoint with no server, the
 * server that does not answer the PING; no new connection per probe; the
 * server-side check.
 */
import 'reflect-metadata';
import { Controller, Get, INestApplication, Inject, Module, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { Router } from 'zeromq';
import { ClientZmq, ServerZmq } from 'nestjs-zeromq';
import { ZmqHealthIndicator } from '../../lib/terminus';
import { deadTcpEndpoint, Harness, silentLogger } from '../helpers/nest';
import { PingController } from '../helpers/ping.controller';
import { ENC, header, json, parseEnvelopes, T } from '../helpers/wire';

const h = new Harness();
afterEach(() => h.closeAll());

/** The app a user writes: a health controller over an injected client and server. */
async function healthApp(client: ClientZmq, server?: ServerZmq) {
  @Controller('health')
  class HealthController {
    constructor(
      private readonly health: HealthCheckService,
      private readonly zmq: ZmqHealthIndicator,
      @Inject('MATH') private readonly math: ClientZmq,
    ) {}

    @Get()
    @HealthCheck()
    check() {
      return this.health.check([
        () => this.zmq.isHealthy('math', this.math, { patterns: ['ping'] }),
        ...(server !== undefined ? [() => this.zmq.isServerHealthy('self', server)] : []),
      ]);
    }
  }

  @Module({
    imports: [TerminusModule],
    controllers: [HealthController],
    providers: [ZmqHealthIndicator, { provide: 'MATH', useValue: client }],
  })
  class AppModule {}

  const module = await Test.createTestingModule({ imports: [AppModule] })
    .setLogger(silentLogger)
    .compile();
  const app: INestApplication = module.createNestApplication({ logger: false });
  h.track(app);
  await app.init();
  return {
    health: app.get(HealthCheckService),
    zmq: app.get(ZmqHealthIndicator),
    controller: app.get(HealthController),
  };
}

/** What HealthCheckService.check() throws when an indicator is down: terminus's 503 body. */
async function downBody(check: Promise<unknown>): Promise<any> {
  const err = await check.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ServiceUnavailableException);
  return (err as ServiceUnavailableException).getResponse();
}

describe('ZmqHealthIndicator.isHealthy (client)', () => {
  it('up: every server answered the PING; peers listed with their round trip', async () => {
    const { server, endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [PingController],
      options: { id: 'math-1' },
    });
    const client = await h.connectClient(endpoint);
    const { controller } = await healthApp(client, server);
    const result = await controller.check();
    expect(result.status).toBe('ok');
    expect(result.details.math).toEqual({
      status: 'up',
      peers: [{ peerId: 'math-1', endpoint, rttMs: expect.any(Number) }],
    });
    expect((result.details.math as any).peers[0].rttMs).toBeGreaterThan(0);
    expect(result.details.self).toMatchObject({
      status: 'up',
      state: 'listening',
      endpoints: [endpoint],
      peers: [{ peerId: client.id, pending: 0 }],
    });
  });

  it('probes on the sessions already up: no new connection or handshake per check', async () => {
    const { server, endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PingController] });
    let joins = 0;
    server.on('peer:joined', () => joins++);
    const client = await h.connectClient(endpoint);
    const { zmq } = await healthApp(client);
    for (let i = 0; i < 3; i++)
      await expect(zmq.isHealthy('math', client)).resolves.toMatchObject({ math: { status: 'up' } });
    expect(joins).toBe(1);
    expect(server.getPeers()).toHaveLength(1);
  });

  it('down: names the pattern no connected server serves', async () => {
    const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PingController] });
    const client = await h.connectClient(endpoint);
    const { health, zmq } = await healthApp(client);
    const body = await downBody(
      health.check([() => zmq.isHealthy('math', client, { patterns: ['ping', 'math.sum', { cmd: 'count', v: 1 }] })]),
    );
    expect(body.status).toBe('error');
    expect(body.error.math).toMatchObject({
      status: 'down',
      unserved: ['math.sum', '{"cmd":"count","v":1}'],
      message: 'no connected server serves "math.sum", "{\\"cmd\\":\\"count\\",\\"v\\":1}"',
    });
  });

  it('down: names the endpoint with no server when fewer than minPeers are up; up with minPeers 1', async () => {
    const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PingController] });
    const dead = await deadTcpEndpoint();
    const client = await h.connectClient([endpoint, dead]);
    const { health, zmq } = await healthApp(client);
    const body = await downBody(health.check([() => zmq.isHealthy('math', client, { minPeers: 2 })]));
    expect(body.error.math).toMatchObject({
      status: 'down',
      down: [dead],
      message: `1 of at least 2 server(s) connected and answering; no session with ${dead}`,
    });
    // One server is enough by default; the missing endpoint is still listed.
    const one = await zmq.isHealthy('math', client);
    expect(one.math).toMatchObject({ status: 'up', down: [dead] });
  });

  it('down: a server that does not answer the PING is named, with TIMEOUT', async () => {
    // A raw ROUTER that welcomes the client and then ignores everything (PING included).
    const mute = new Router({ linger: 0 });
    h.track({ close: () => mute.close() });
    await mute.bind('tcp://127.0.0.1:*');
    const client = h.track(new ClientZmq({ connect: mute.lastEndpoint! }));
    const connecting = client.connect();
    const [rid] = await mute.receive();
    await mute.send([
      rid!,
      header(T.WELCOME, { enc: ENC.JSON }),
      json({
        version: 1,
        id: 'mute',
        metadata: {},
        heartbeat: { interval: 5_000, liveness: 3 },
        patterns: ['ping'],
        events: [],
      }),
    ]);
    await connecting;
    const { zmq } = await healthApp(client);
    const probing = zmq.isHealthy('math', client, { timeout: 200 });
    // The PING reaches the server (and is never answered).
    for (let n = 0; n < 10; n++) {
      if (parseEnvelopes(await mute.receive(), 1).some(e => e.type === T.PING)) break;
    }
    const result = await probing;
    expect(result.math).toEqual({
      status: 'down',
      peers: [{ peerId: 'mute', endpoint: mute.lastEndpoint, rttMs: null, error: 'TIMEOUT' }],
      unanswered: [{ peerId: 'mute', error: 'TIMEOUT' }],
      message: '0 of at least 1 server(s) connected and answering; mute did not answer the PING (TIMEOUT)',
    });
  });

  it('down before any server: no peers, the endpoint named', async () => {
    const dead = await deadTcpEndpoint();
    const client = h.track(new ClientZmq({ connect: dead, connectTimeout: 100 }));
    await client.connect().catch(() => undefined);
    const { zmq } = await healthApp(client);
    await expect(zmq.isHealthy('math', client)).resolves.toEqual({
      math: {
        status: 'down',
        peers: [],
        down: [dead],
        message: `0 of at least 1 server(s) connected and answering; no session with ${dead}`,
      },
    });
  });
});

describe('ZmqHealthIndicator.isServerHealthy', () => {
  it('down once the server is closed; minPeers counts its clients', async () => {
    const { app, server, endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [PingController] });
    const client = await h.connectClient(endpoint);
    const { zmq } = await healthApp(client);
    await expect(zmq.isServerHealthy('srv', server, { minPeers: 2 })).resolves.toMatchObject({
      srv: { status: 'down', message: '1 of at least 2 client(s) connected' },
    });
    await app.close();
    await expect(zmq.isServerHealthy('srv', server)).resolves.toEqual({
      srv: {
        status: 'down',
        state: 'idle',
        endpoints: [],
        peers: [],
        inFlight: 0,
        queued: 0,
        message: 'the server is idle, not listening',
      },
    });
  });
});
