/**
 * Answers to typos: a NO_PEER for a pattern no server serves names the
 * nearest pattern the servers announced in their handshakes, and an option
 * given to the wrong side is named as the other side's option.
 */
import { resolveClientConfig } from '../../lib/config/client-config';
import { resolveServerConfig } from '../../lib/config/server-config';
import { ZmqErrorCode, ZmqNoPeerError, ZmqOptionsError } from '../../lib/errors/zmq.errors';
import type { ReplyPacket } from '../../lib/protocol/client/calls';
import { ClientEngine } from '../../lib/protocol/client/client-engine';
import { MessageType } from '../../lib/protocol/frames';
import { handshakeEnvelope } from '../../lib/protocol/handshake';
import { nearestName } from '../../lib/protocol/nearest-name';
import { FakeConnector, RecordingObserver, StatusRecorder } from '../helpers/fake-channel';
import { ManualTime } from '../helpers/manual-time';

const A = 'tcp://a:1';

function engineWith(patterns: string[], events: string[]) {
  const time = new ManualTime();
  const net = new FakeConnector();
  const engine = new ClientEngine({
    config: {
      endpoints: [A],
      id: 'client-1',
      instance: 'inst',
      metadata: {},
      connectTimeout: 1_000,
      requestTimeout: 5_000,
      maxPayload: 64 * 1024,
      heartbeat: { interval: 100, liveness: 3 },
      strategy: 'round-robin',
    },
    connect: net.connect,
    observer: new RecordingObserver(),
    status: new StatusRecorder().push,
    clock: time,
    scheduler: time,
  });
  void engine.connect().catch(() => undefined);
  net.channel(A).deliver(
    handshakeEnvelope(MessageType.Welcome, {
      version: 1,
      id: 'srv-a',
      metadata: {},
      heartbeat: { interval: 1_000, liveness: 3 },
      patterns,
      events,
    }),
  );
  return engine;
}

function failure(engine: ClientEngine, pattern: string): unknown {
  const packets: ReplyPacket[] = [];
  engine.request(pattern, 1, undefined, p => void packets.push(p));
  expect(packets).toHaveLength(1);
  return packets[0]!.err;
}

function optionsError(build: () => unknown): ZmqOptionsError {
  try {
    build();
  } catch (err) {
    expect(err).toBeInstanceOf(ZmqOptionsError);
    return err as ZmqOptionsError;
  }
  throw new Error('expected INVALID_OPTIONS');
}

describe('NO_PEER for a pattern no server serves', () => {
  it('names the nearest pattern a server announced: "summ" -> "sum"', () => {
    const err = failure(engineWith(['sum', 'echo', 'math.multiply'], []), 'summ');
    expect(err).toBeInstanceOf(ZmqNoPeerError);
    expect(err).toMatchObject({ code: ZmqErrorCode.NO_PEER, reason: 'not-served', suggestion: 'sum' });
    expect((err as Error).message).toBe('No connected server serves "summ". Did you mean "sum"?');
  });

  it('offers nothing when no announced pattern is close', () => {
    const err = failure(engineWith(['sum', 'echo'], []), 'reports.generate');
    expect(err).toMatchObject({ reason: 'not-served', suggestion: undefined });
    expect((err as Error).message).not.toContain('Did you mean');
  });

  it('an event nobody handles is compared with the announced events, not the request patterns', () => {
    const engine = engineWith(['user.created.count'], ['user.created']);
    let thrown: unknown;
    try {
      engine.emit('user.creatd', 1, undefined, undefined, false);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: ZmqErrorCode.NO_PEER, suggestion: 'user.created' });
  });
});

describe('an option of the other side', () => {
  it.each([['bind'], ['allow'], ['drainTimeout'], ['sendTimeout']])(
    'a client given "%s" is told it is a server option',
    key => {
      const err = optionsError(() => resolveClientConfig({ connect: 'tcp://127.0.0.1:5555', [key]: 1 } as never));
      expect(err.option).toBe(key);
      expect(err.message).toContain(`unknown client option "${key}". "${key}" is a server option`);
      expect(err.message).not.toContain('Did you mean');
    },
  );

  it('a client given "bind" is pointed at "connect"', () => {
    const err = optionsError(() => resolveClientConfig({ bind: 'tcp://127.0.0.1:5555' } as never));
    expect(err.message).toBe(
      'nestjs-zeromq: unknown client option "bind". "bind" is a server option; a client takes "connect".',
    );
  });

  it.each([['connect'], ['connectTimeout'], ['requestTimeout'], ['strategy'], ['resolver']])(
    'a server given "%s" is told it is a client option',
    key => {
      const err = optionsError(() => resolveServerConfig({ bind: 'tcp://127.0.0.1:5555', [key]: 1 } as never));
      expect(err.message).toContain(`unknown server option "${key}". "${key}" is a client option`);
    },
  );

  it('a server given "connect" is pointed at "bind"', () => {
    const err = optionsError(() => resolveServerConfig({ connect: 'tcp://127.0.0.1:5555' } as never));
    expect(err.message).toContain('a server takes "bind"');
  });

  it('a plain typo still gets the nearest option of its own side', () => {
    const err = optionsError(() => resolveClientConfig({ connect: 'tcp://127.0.0.1:5555', conect: 1 } as never));
    expect(err.message).toContain('Did you mean "connect"?');
  });
});

describe('nearestName', () => {
  it('is case-insensitive and bounded by the length of the name', () => {
    expect(nearestName('SUM', ['sum'])).toBe('sum');
    expect(nearestName('ab', ['xy'])).toBeUndefined();
    expect(nearestName('sum', ['sum', 'sun'])).toBeUndefined();
  });
});
