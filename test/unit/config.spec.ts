/**
 * The option resolvers of both sides (lib/config/), and the constructors
 * that call them: defaults, validation, the handshake metadata limit, frozen
 * results. No sockets are opened here. A bad value is checked by what the
 * error says (it names the option), not by its class.
 */
import { resolveClientConfig } from '../../lib/config/client-config';
import { resolveServerConfig } from '../../lib/config/server-config';
import * as defaults from '../../lib/defaults';
import { ClientZmq, ServerZmq, ZmqErrorCode, ZmqMessageTooLargeError } from 'nestjs-zeromq';
import { MAX_HANDSHAKE_BYTES } from '../../lib/protocol/limits';

const BIND = 'tcp://127.0.0.1:*';
const CONNECT = 'tcp://127.0.0.1:1';

/** Metadata whose JSON is larger than a handshake may be. */
const hugeMetadata = () => ({ blob: 'x'.repeat(MAX_HANDSHAKE_BYTES) });

describe('resolveServerConfig', () => {
  it('puts a given sendTimeout on the socket settings', () => {
    expect(resolveServerConfig({ bind: BIND, sendTimeout: 5 }).socket.sendTimeout).toBe(5);
    expect(resolveServerConfig({ bind: BIND, sendTimeout: 0 }).socket.sendTimeout).toBe(0);
  });

  it('defaults sendTimeout to DEFAULT_SEND_TIMEOUT', () => {
    expect(resolveServerConfig({ bind: BIND }).socket.sendTimeout).toBe(defaults.DEFAULT_SEND_TIMEOUT);
  });

  it('applies the defaults of the shared options', () => {
    const c = resolveServerConfig({ bind: [BIND, 'ipc:///tmp/x.sock'] });
    expect(c.endpoints).toEqual([BIND, 'ipc:///tmp/x.sock']);
    expect(c.maxPayload).toBe(defaults.DEFAULT_MAX_PAYLOAD_SIZE);
    expect(c.heartbeat).toEqual({
      interval: defaults.DEFAULT_HEARTBEAT_INTERVAL,
      liveness: defaults.DEFAULT_HEARTBEAT_LIVENESS,
    });
    expect(c.socket).toMatchObject({
      linger: defaults.DEFAULT_LINGER,
      sendHighWaterMark: defaults.DEFAULT_SEND_HWM,
      receiveHighWaterMark: defaults.DEFAULT_RECEIVE_HWM,
      queueLimit: defaults.DEFAULT_SEND_QUEUE_LIMIT,
    });
    expect(c.id).toMatch(/^[0-9a-f]{32}$/);
    expect(c.metadata).toEqual({});
    expect(c.transportId).toBeUndefined();
  });

  it('keeps the given id, metadata, transportId and settings', () => {
    const transportId = Symbol('T');
    const c = resolveServerConfig({
      bind: BIND,
      id: 'srv',
      metadata: { zone: 'eu' },
      transportId,
      maxPayloadSize: 2048,
      heartbeatInterval: 250,
      heartbeatLiveness: 5,
      linger: 0,
      sendQueueLimit: 7,
    });
    expect(c).toMatchObject({ id: 'srv', metadata: { zone: 'eu' }, transportId, maxPayload: 2048 });
    expect(c.heartbeat).toEqual({ interval: 250, liveness: 5 });
    expect(c.socket).toMatchObject({ linger: 0, queueLimit: 7 });
  });

  it.each<[string, Record<string, unknown>]>([
    ['sendTimeout', { sendTimeout: -1 }],
    ['sendTimeout', { sendTimeout: Number.NaN }],
    ['sendTimeout', { sendTimeout: '5' }],
    ['maxPayloadSize', { maxPayloadSize: 0 }],
    ['heartbeatInterval', { heartbeatInterval: Number.POSITIVE_INFINITY }],
    ['heartbeatLiveness', { heartbeatLiveness: -3 }],
    ['linger', { linger: -1 }],
    ['sendQueueLimit', { sendQueueLimit: 0 }],
    ['sendHighWaterMark', { sendHighWaterMark: -1 }],
    ['receiveHighWaterMark', { receiveHighWaterMark: Number.NaN }],
    ['transportId', { transportId: 'not a symbol' }],
    ['metadata', { metadata: ['a'] }],
    ['id', { id: '' }],
  ])('a bad "%s" throws at construction, naming it', (name, bad) => {
    expectOptionError(() => resolveServerConfig({ bind: BIND, ...bad } as any), name);
  });

  it('no bind endpoint throws, naming "bind"', () => {
    expectOptionError(() => resolveServerConfig({} as any), 'bind');
    expectOptionError(() => resolveServerConfig({ bind: [] }), 'bind');
    expectOptionError(() => resolveServerConfig({ bind: [''] }), 'bind');
  });

  it('metadata too large for a handshake is TOO_LARGE at construction', () => {
    const err = catchError(() => resolveServerConfig({ bind: BIND, metadata: hugeMetadata() }));
    expect(err).toBeInstanceOf(ZmqMessageTooLargeError);
    expect(err).toMatchObject({ code: ZmqErrorCode.TOO_LARGE, limit: MAX_HANDSHAKE_BYTES });
    expect((err as Error).message).toContain('server');
  });

  it('the result is frozen, nested parts too', () => {
    const c = resolveServerConfig({ bind: BIND, sendTimeout: 5 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.socket)).toBe(true);
    expect(Object.isFrozen(c.endpoints)).toBe(true);
    expect(Object.isFrozen(c.heartbeat)).toBe(true);
    expect(() => {
      (c.socket as { sendTimeout?: number }).sendTimeout = 99;
    }).toThrow(TypeError);
    expect(c.socket.sendTimeout).toBe(5);
  });

  it('does not share the endpoint list with the caller', () => {
    const bind = [BIND];
    const c = resolveServerConfig({ bind });
    bind.push('tcp://127.0.0.1:2');
    expect(c.endpoints).toEqual([BIND]);
  });
});

describe('resolveClientConfig', () => {
  it('applies the client defaults', () => {
    const c = resolveClientConfig({ connect: CONNECT });
    expect(c.endpoints).toEqual([CONNECT]);
    expect(c.connectTimeout).toBe(defaults.DEFAULT_CONNECT_TIMEOUT);
    expect(c.requestTimeout).toBe(defaults.DEFAULT_REQUEST_TIMEOUT);
    expect(c.strategy).toBe(defaults.DEFAULT_STRATEGY);
    expect(c.socket).toMatchObject({
      reconnectInterval: defaults.DEFAULT_RECONNECT_INTERVAL,
      reconnectMaxInterval: defaults.DEFAULT_RECONNECT_MAX_INTERVAL,
    });
    expect(c.socket.sendTimeout).toBeUndefined(); // a server option
    expect(c.instance).toMatch(/^[0-9a-f]{32}$/);
  });

  it('each client object gets its own instance token', () => {
    expect(resolveClientConfig({ connect: CONNECT }).instance).not.toBe(
      resolveClientConfig({ connect: CONNECT }).instance,
    );
  });

  it('keeps requestTimeout 0 (no timeout) and the strategy given', () => {
    const c = resolveClientConfig({ connect: [CONNECT], requestTimeout: 0, strategy: 'least-pending' });
    expect(c.requestTimeout).toBe(0);
    expect(c.strategy).toBe('least-pending');
  });

  it.each<[string, Record<string, unknown>]>([
    ['connectTimeout', { connectTimeout: 0 }],
    ['connectTimeout', { connectTimeout: 'soon' }],
    ['requestTimeout', { requestTimeout: -5 }],
    ['reconnectInterval', { reconnectInterval: 0 }],
    ['reconnectMaxInterval', { reconnectMaxInterval: -1 }],
    ['heartbeatInterval', { heartbeatInterval: 0 }],
    ['maxPayloadSize', { maxPayloadSize: Number.NaN }],
    ['strategy', { strategy: 'random' }],
  ])('a bad "%s" throws at construction, naming it', (name, bad) => {
    expectOptionError(() => resolveClientConfig({ connect: CONNECT, ...bad } as any), name);
  });

  it('no endpoint throws, naming "connect"', () => {
    expectOptionError(() => resolveClientConfig({} as any), 'connect');
    expectOptionError(() => resolveClientConfig({ connect: [] }), 'connect');
  });

  it('metadata too large for a handshake is TOO_LARGE at construction', () => {
    const err = catchError(() => resolveClientConfig({ connect: CONNECT, metadata: hugeMetadata() }));
    expect(err).toBeInstanceOf(ZmqMessageTooLargeError);
    expect(err).toMatchObject({ code: ZmqErrorCode.TOO_LARGE, limit: MAX_HANDSHAKE_BYTES });
    expect((err as Error).message).toContain('client');
  });

  it('metadata that just fits is accepted', () => {
    expect(() => resolveClientConfig({ connect: CONNECT, metadata: { blob: 'x'.repeat(1_000) } })).not.toThrow();
  });

  it('the result is frozen, nested parts too', () => {
    const c = resolveClientConfig({ connect: CONNECT });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.socket)).toBe(true);
    expect(Object.isFrozen(c.endpoints)).toBe(true);
    expect(Object.isFrozen(c.heartbeat)).toBe(true);
  });
});

describe('the constructors validate at once', () => {
  it('new ClientZmq with handshake-sized metadata throws TOO_LARGE', () => {
    const err = catchError(() => new ClientZmq({ connect: CONNECT, metadata: hugeMetadata() }));
    expect(err).toBeInstanceOf(ZmqMessageTooLargeError);
    expect(err).toMatchObject({ code: ZmqErrorCode.TOO_LARGE });
  });

  it('new ServerZmq with handshake-sized metadata throws TOO_LARGE', () => {
    const err = catchError(() => new ServerZmq({ bind: BIND, metadata: hugeMetadata() }));
    expect(err).toBeInstanceOf(ZmqMessageTooLargeError);
    expect(err).toMatchObject({ code: ZmqErrorCode.TOO_LARGE });
  });

  it('new ServerZmq with a bad sendTimeout throws, naming it', () => {
    expectOptionError(() => new ServerZmq({ bind: BIND, sendTimeout: -1 }), 'sendTimeout');
  });

  it('new ClientZmq with a bad option throws, naming it', () => {
    expectOptionError(() => new ClientZmq({ connect: CONNECT, requestTimeout: -1 }), 'requestTimeout');
  });
});

/**
 * A bad option throws at once, and the error names it in its message (and in
 * `option`, where the error class has one: a TypeError has not).
 */
function expectOptionError(fn: () => unknown, name: string): void {
  const err = catchError(fn);
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(ZmqMessageTooLargeError);
  expect((err as Error).message).toContain(`"${name}"`);
  expect([undefined, name]).toContain((err as { option?: unknown }).option);
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
