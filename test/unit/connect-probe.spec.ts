/**
 * What a waiting connect() decides from its probe of the endpoints
 * (lib/protocol/client/connect-waiter.ts, connect-probe.ts), over the fake
 * channels, a fake probe and the manual clock: nothing accepting connections
 * anywhere ends the wait with CONNECT_REFUSED before connectTimeout, while
 * the links keep trying; a connection accepted without a handshake gives a
 * CONNECT_TIMEOUT that says so; a server that answers in time is never probed.
 */
import { ZmqConnectRefusedError, ZmqConnectTimeoutError, ZmqErrorCode } from '../../lib/errors/zmq.errors';
import type { ClientEngineConfig } from '../../lib/protocol/client/client-deps';
import { EndpointProbe, furthest, ProbeResult, probeEndpoint, seenOf } from '../../lib/protocol/client/connect-probe';
import { CONNECT_PROBE_DELAY_MS, CONNECT_PROBE_TIMEOUT_MS } from '../../lib/protocol/tuning';
import { greetingOf, probeTarget } from '../../lib/transport/tcp-probe';
import { deferred, flush } from '../helpers/async';
import { A, B, clientEngine, welcome } from '../helpers/client-engine';

const REFUSED: ProbeResult = { kind: 'refused', cause: 'refused', code: 'ECONNREFUSED' };
const ACCEPTED: ProbeResult = { kind: 'accepted' };

/** A probe that answers each endpoint from `answers` (unknown ones: unprobed) and records what it was asked. */
function fakeProbe(answers: Record<string, ProbeResult | Promise<ProbeResult>>) {
  const asked: string[] = [];
  const probe: EndpointProbe = endpoint => {
    asked.push(endpoint);
    return Promise.resolve(answers[endpoint] ?? { kind: 'unprobed' });
  };
  return { probe, asked };
}

/** The outcome of a promise, readable at any time. */
function track(promise: Promise<unknown>) {
  const state = { settled: false, resolved: false, error: undefined as unknown };
  promise.then(
    () => Object.assign(state, { settled: true, resolved: true }),
    (err: unknown) => Object.assign(state, { settled: true, error: err }),
  );
  return state;
}

function setup(
  answers: Record<string, ProbeResult | Promise<ProbeResult>>,
  over: Partial<ClientEngineConfig> = {},
  curve = false,
  resolve?: (host: string) => Promise<string[]>,
) {
  const fake = fakeProbe(answers);
  const s = clientEngine(
    { endpoints: [A], connectTimeout: 30_000, ...over },
    { diagnostics: { probe: fake.probe, curve }, ...(resolve !== undefined ? { resolve } : {}) },
  );
  return { ...s, asked: fake.asked, refusedEvents: s.observer.connectRefusals };
}

describe('connect() and the probe of its endpoints', () => {
  it('nothing accepts connections at any endpoint: CONNECT_REFUSED at the probe, long before connectTimeout', async () => {
    const s = setup(
      { [A]: REFUSED, [B]: { kind: 'refused', cause: 'no-file', code: 'ENOENT' } },
      { endpoints: [A, B] },
    );
    const first = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS - 1);
    await flush();
    expect(s.asked).toEqual([]);
    s.time.advance(1);
    await flush();
    expect(s.asked).toEqual([A, B]);
    expect(first.error).toBeInstanceOf(ZmqConnectRefusedError);
    const err = first.error as ZmqConnectRefusedError;
    expect(err.code).toBe(ZmqErrorCode.CONNECT_REFUSED);
    expect(err.endpoints).toEqual([A, B]);
    expect(err.seen.map(x => [x.endpoint, x.reason])).toEqual([
      [A, 'refused'],
      [B, 'refused'],
    ]);
    expect(err.message).toBe(
      `Nothing accepts connections at ${A} (ECONNREFUSED): is the server running, and bound to that address and port?; ` +
        `nothing listens at ${B} (no such socket file): is the server running, and bound to that path?`,
    );
    expect(s.refusedEvents).toEqual([
      [A, 1],
      [B, 1],
    ]);
    // The error says it: no log line besides.
    expect(s.observer.warnings).toEqual([]);
  });

  it('the links keep trying after CONNECT_REFUSED: a server that starts later is reached by the next connect()', async () => {
    const s = setup({ [A]: REFUSED });
    const first = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS);
    await flush();
    expect((first.error as ZmqConnectRefusedError).code).toBe(ZmqErrorCode.CONNECT_REFUSED);
    expect(s.net.channels.every(c => c.closeCount === 0)).toBe(true);
    const second = s.engine.connect();
    expect(s.net.channels).toHaveLength(1); // the same link, no new one
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    await expect(second).resolves.toBeUndefined();
    expect(s.status.values).toEqual(['connected']);
  });

  it('a second wait probes again and counts the refusals per endpoint (connect:refused attempts)', async () => {
    const s = setup({ [A]: REFUSED });
    for (const attempt of [1, 2]) {
      const wait = track(s.engine.connect());
      s.time.advance(CONNECT_PROBE_DELAY_MS);
      await flush();
      expect((wait.error as ZmqConnectRefusedError).code).toBe(ZmqErrorCode.CONNECT_REFUSED);
      expect(s.refusedEvents.at(-1)).toEqual([A, attempt]);
    }
  });

  it('a server that welcomes before the probe delay is never probed', async () => {
    const s = setup({ [A]: REFUSED });
    const connecting = s.engine.connect();
    s.ch(A).deliver(welcome('srv-a', ['echo']));
    await expect(connecting).resolves.toBeUndefined();
    s.time.advance(CONNECT_PROBE_DELAY_MS * 4);
    await flush();
    expect(s.asked).toEqual([]);
  });

  it('a connection accepted without a handshake: connect() waits for connectTimeout, then says so (plaintext: CURVE named)', async () => {
    const s = setup({ [A]: ACCEPTED }, { connectTimeout: 2_000 });
    const wait = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS);
    await flush();
    expect(s.asked).toEqual([A]);
    s.time.advance(1_999 - CONNECT_PROBE_DELAY_MS);
    await flush();
    expect(wait.settled).toBe(false);
    s.time.advance(1);
    await flush();
    const err = wait.error as ZmqConnectTimeoutError;
    expect(err).toBeInstanceOf(ZmqConnectTimeoutError);
    expect(err.reason).toBe('no-handshake');
    expect(err.message).toBe(
      `No server completed the handshake within 2000 ms: something at ${A} accepted the TCP connection but no ZeroMQ ` +
        `handshake (HELLO/WELCOME) completed: a server that requires CURVE (give this client the "curve" option with ` +
        `the server's public key), a listener that is not a nestjs-zeromq server, or a server too busy to answer?`,
    );
  });

  it('a CURVE client whose connection is accepted without a handshake: the message names the server key', async () => {
    const s = setup({ [A]: ACCEPTED }, { connectTimeout: 2_000 }, true);
    const wait = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS);
    await flush();
    s.time.advance(2_000);
    await flush();
    expect((wait.error as ZmqConnectTimeoutError).message).toContain(
      'a wrong curve.serverKey (the server cannot read this client), a server that does not use CURVE',
    );
  });

  it('one endpoint refused, another accepting: connect() waits; a rate-limited warning names the refused one', async () => {
    const s = setup({ [A]: REFUSED, [B]: ACCEPTED }, { endpoints: [A, B], connectTimeout: 2_000 });
    const warned: Array<[string, string | undefined]> = [];
    s.observer.warn = (message: string, kind?: string) => void warned.push([message, kind]);
    const wait = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS);
    await flush();
    expect(wait.settled).toBe(false);
    expect(warned).toEqual([
      [
        `Nothing accepts connections at ${A} (ECONNREFUSED): is the server running, and bound to that address and port?; connect() waits for the other endpoints`,
        'connect-refused',
      ],
    ]);
    expect(s.refusedEvents).toEqual([[A, 1]]);
    s.time.advance(2_000);
    await flush();
    const err = wait.error as ZmqConnectTimeoutError;
    expect(err.seen.map(x => [x.endpoint, x.reason])).toEqual([
      [A, 'refused'],
      [B, 'no-handshake'],
    ]);
    expect(err.reason).toBe('no-handshake');
  });

  it('a probe that meets nothing within its time counts as no answer (never as refused)', async () => {
    const never = new Promise<ProbeResult>(() => undefined);
    const s = setup({ [A]: never }, { connectTimeout: 5_000 });
    const wait = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS + CONNECT_PROBE_TIMEOUT_MS);
    await flush();
    expect(wait.settled).toBe(false);
    s.time.advance(5_000);
    await flush();
    const err = wait.error as ZmqConnectTimeoutError;
    expect(err.reason).toBe('no-answer');
    expect(err.message).toContain(
      `no connection to ${A} was accepted or refused within ${CONNECT_PROBE_TIMEOUT_MS} ms`,
    );
  });

  it('an endpoint the probe cannot try (inproc): the wait ends at connectTimeout, naming the endpoint', async () => {
    const s = setup({}, { endpoints: ['inproc://svc'], connectTimeout: 1_000 });
    const wait = track(s.engine.connect());
    s.time.advance(1_000);
    await flush();
    const err = wait.error as ZmqConnectTimeoutError;
    expect(err.code).toBe(ZmqErrorCode.CONNECT_TIMEOUT);
    expect(err.message).toBe('No server completed the handshake within 1000 ms (endpoints: inproc://svc)');
  });

  it('a host name that does not resolve is nothing accepting connections: CONNECT_REFUSED naming the name', async () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' });
    const endpoint = 'tcp://nowhere.test:4000';
    const s = setup({}, { endpoints: [endpoint] }, false, () => Promise.reject(notFound));
    const wait = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS);
    await flush();
    const err = wait.error as ZmqConnectRefusedError;
    expect(err.code).toBe(ZmqErrorCode.CONNECT_REFUSED);
    expect(err.message).toBe(
      `The host name in ${endpoint} does not resolve (ENOTFOUND): check the name and the DNS this client uses`,
    );
    expect(s.asked).toEqual([]);
  });

  it('close() while the probe runs: CLOSED, and the late result changes nothing', async () => {
    const late = deferred<ProbeResult>();
    const s = setup({ [A]: late.promise });
    const wait = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS);
    await flush();
    await s.engine.close();
    await flush();
    expect((wait.error as { code: string }).code).toBe(ZmqErrorCode.CLOSED);
    late.resolve(REFUSED);
    await flush();
    expect(s.refusedEvents).toEqual([]);
  });

  it('a connect:refused listener that closes the client ends the wait with CLOSED, not CONNECT_REFUSED', async () => {
    const s = setup({ [A]: REFUSED });
    s.observer.connectRefused = () => void s.engine.close();
    const wait = track(s.engine.connect());
    s.time.advance(CONNECT_PROBE_DELAY_MS);
    await flush();
    expect((wait.error as { code: string }).code).toBe(ZmqErrorCode.CLOSED);
  });

  it('with a connectTimeout shorter than twice the probe delay, the probe runs at half the timeout', async () => {
    const s = setup({ [A]: REFUSED }, { connectTimeout: 100 });
    const wait = track(s.engine.connect());
    s.time.advance(50);
    await flush();
    expect((wait.error as { code: string }).code).toBe(ZmqErrorCode.CONNECT_REFUSED);
  });
});

describe('probeEndpoint and furthest', () => {
  it('a name is refused only when every address is; an accepting address wins', async () => {
    const info = { endpoint: 'tcp://svc:1', addresses: ['tcp://10.0.0.1:1', 'tcp://10.0.0.2:1'] };
    const both = fakeProbe({ 'tcp://10.0.0.1:1': REFUSED, 'tcp://10.0.0.2:1': REFUSED });
    expect(await probeEndpoint(info, both.probe, undefined)).toEqual(REFUSED);
    const one = fakeProbe({ 'tcp://10.0.0.1:1': REFUSED, 'tcp://10.0.0.2:1': ACCEPTED });
    expect(await probeEndpoint(info, one.probe, undefined)).toEqual(ACCEPTED);
  });

  it('a name with no address yet is resolved by the engine resolver, then its addresses probed', async () => {
    const fake = fakeProbe({ 'tcp://127.0.0.1:7': ACCEPTED });
    const result = await probeEndpoint({ endpoint: 'tcp://svc.test:7', addresses: [] }, fake.probe, () =>
      Promise.resolve(['127.0.0.1']),
    );
    expect(result).toEqual(ACCEPTED);
    expect(fake.asked).toEqual(['tcp://127.0.0.1:7']);
  });

  it('furthest: accepted > silent > failed > unprobed > refused', () => {
    const silent: ProbeResult = { kind: 'silent' };
    const failed: ProbeResult = { kind: 'failed', code: 'EACCES' };
    expect(furthest([REFUSED, failed, silent])).toEqual(silent);
    expect(furthest([REFUSED, { kind: 'unprobed' }])).toEqual({ kind: 'unprobed' });
    expect(furthest([REFUSED, ACCEPTED, silent])).toEqual(ACCEPTED);
  });

  it('each refusal says what to check, and an ipc file without a listener is told apart', () => {
    const text = (endpoint: string, result: ProbeResult) => seenOf(endpoint, result, false, 1_000)!.detail;
    expect(text('ipc:///tmp/x.sock', REFUSED)).toContain('the socket file exists but no process listens on it');
    expect(text(A, { kind: 'refused', cause: 'unreachable', code: 'EHOSTUNREACH' })).toBe(
      `nothing can be reached at ${A} (EHOSTUNREACH: no route to it): check the address and the network`,
    );
    expect(text('ipc:///tmp/x.sock', ACCEPTED)).toContain('accepted the connection but no ZeroMQ handshake');
    expect(seenOf('inproc://x', { kind: 'unprobed' }, false, 1_000)).toBeUndefined();
  });

  it('a greeting names the cause: the mechanism the server asks for against what the client uses', () => {
    const reasonAndText = (greeting: ProbeResult & { kind: 'accepted' }, curve: boolean) => {
      const seen = seenOf(A, greeting, curve, 1_000)!;
      return [seen.reason, seen.detail.slice(seen.detail.indexOf(': ') + 2)];
    };
    const zmtp = (mechanism: string | undefined) => ({
      kind: 'accepted' as const,
      greeting: { kind: 'zmtp' as const, mechanism },
    });
    expect(reasonAndText(zmtp('CURVE'), false)).toEqual([
      'no-handshake',
      'its ZeroMQ greeting asks for CURVE, and this client has no "curve" option: give it the server\'s public key (curve.serverKey)',
    ]);
    expect(reasonAndText(zmtp('CURVE'), true)[1]).toMatch(
      /^the server uses CURVE and the CURVE handshake failed: a wrong curve\.serverKey/,
    );
    expect(reasonAndText(zmtp('NULL'), true)[1]).toMatch(
      /^its ZeroMQ greeting says it does not use CURVE, and this client does/,
    );
    expect(reasonAndText(zmtp('NULL'), false)[0]).toBe('no-session');
    expect(reasonAndText(zmtp('PLAIN'), false)[1]).toContain(
      'asks for the PLAIN mechanism, which nestjs-zeromq does not use',
    );
    expect(reasonAndText({ kind: 'accepted', greeting: { kind: 'none' } }, true)[1]).toMatch(
      /^it sent no ZeroMQ greeting, so it is not a ZeroMQ server/,
    );
  });
});

describe("the transport probe's parsing (lib/transport/tcp-probe.ts)", () => {
  const greeting = (mechanism: string, major = 3) => {
    const bytes = Buffer.alloc(64);
    bytes[0] = 0xff;
    bytes[9] = 0x7f;
    bytes[10] = major;
    bytes.write(mechanism, 12, 'latin1');
    return bytes;
  };

  it('reads the mechanism of a ZMTP 3 greeting; anything else is no greeting', () => {
    expect(greetingOf(greeting('CURVE'))).toEqual({ kind: 'zmtp', mechanism: 'CURVE' });
    expect(greetingOf(greeting('NULL').subarray(0, 32))).toEqual({ kind: 'zmtp', mechanism: 'NULL' });
    expect(greetingOf(greeting('NULL', 2))).toEqual({ kind: 'zmtp', mechanism: undefined });
    expect(greetingOf(greeting('\x1b[31mX'))).toEqual({ kind: 'zmtp', mechanism: undefined });
    expect(greetingOf(Buffer.from('HTTP/1.1 400 Bad Request'))).toEqual({ kind: 'none' });
    expect(greetingOf(Buffer.alloc(0))).toEqual({ kind: 'none' });
  });

  it('finds the address of tcp (IPv4, IPv6, a source), ipc (a path, the abstract namespace) endpoints; not inproc', () => {
    expect(probeTarget('tcp://127.0.0.1:5555')).toEqual({ host: '127.0.0.1', port: 5555 });
    expect(probeTarget('tcp://[::1]:5555')).toEqual({ host: '::1', port: 5555 });
    expect(probeTarget('tcp://eth0;svc.test:80')).toEqual({ host: 'svc.test', port: 80 });
    expect(probeTarget('ipc:///tmp/a.sock')).toEqual({ path: '/tmp/a.sock' });
    expect(probeTarget('ipc://@svc')).toEqual({ path: '\0svc' });
    expect(probeTarget('inproc://svc')).toBeUndefined();
    expect(probeTarget('tcp://host:0')).toBeUndefined();
  });
});
