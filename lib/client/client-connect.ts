import { loadMsgpack } from '../common/msgpack-loader.js';
import { loadTracing, tracingLoaded } from '../common/tracing.js';
import type { ClientConfig } from '../config/client-config.js';
import type { ZmqStatus } from '../interfaces/zmq-events.interface.js';
import type { Channel, ConnectAttempts, SessionObserver } from '../protocol/channel.js';
import type { UpstreamLink } from '../protocol/client/upstream-link.js';
import { ZmqConnectSeen, ZmqConnectTimeoutError, ZmqError, ZmqErrorCode } from '../errors/zmq.errors.js';
import { ClientEngine } from '../protocol/client/client-engine.js';
import type { Metrics } from '../protocol/metrics.js';
import { dealerChannels } from '../transport/zmq-channels.js';
import { dealerSecurity, withSecurityHint } from './client-security.js';
import { dnsResolver } from './dns-resolver.js';

/**
 * What `ClientZmq.connect()` runs: the optional modules (msgpackr with
 * `codec: 'msgpack'`, the OpenTelemetry API) loaded once, then the engine's
 * cached connect; a CONNECT_TIMEOUT says what each endpoint's attempts met.
 * The same engine promise gives the same returned promise: nothing is
 * allocated per call.
 */
export function connector(engine: () => ClientEngine, config: ClientConfig): () => Promise<void> {
  const codecLoad = config.msgpack ? once(loadMsgpack) : undefined;
  let last: Promise<void> | undefined;
  let hinted: Promise<void> | undefined;
  const hint = (connecting: Promise<void>) => {
    if (connecting !== last) {
      last = connecting;
      hinted = connecting.catch((err: unknown) => {
        throw diagnosed(err, config, engine().links);
      });
    }
    return hinted!;
  };
  return () => {
    if (codecLoad === undefined && tracingLoaded()) return hint(engine().connect());
    return Promise.all([codecLoad?.(), loadTracing()]).then(() => hint(engine().connect()));
  };
}

function once(load: () => Promise<void>): () => Promise<void> {
  let loading: Promise<void> | undefined;
  return () => (loading ??= load());
}

/**
 * A CONNECT_TIMEOUT rebuilt with what the links' connection attempts met
 * (their transport's counts): nothing accepting connections, something
 * accepting them without a ZeroMQ handshake, a ZeroMQ socket without a
 * WELCOME, or no answer at all. Other errors pass unchanged.
 */
export function diagnosed(err: unknown, config: ClientConfig, links: readonly UpstreamLink[]): unknown {
  if (!(err instanceof ZmqError) || err.code !== ZmqErrorCode.CONNECT_TIMEOUT) return err;
  const seen = links.flatMap(link => {
    const attempts = link.channel.attempts;
    return attempts === undefined ? [] : [seenAt(link.endpoint, attempts, config.curve !== undefined)];
  });
  if (seen.length === 0) return withSecurityHint(err, config);
  return new ZmqConnectTimeoutError(config.endpoints, config.connectTimeout, undefined, seen);
}

function seenAt(endpoint: string, attempts: ConnectAttempts, curve: boolean): ZmqConnectSeen {
  if (attempts.handshakes > 0) {
    return {
      endpoint,
      reason: 'no-session',
      detail: `a ZeroMQ socket at ${endpoint} completed the ZeroMQ handshake but sent no nestjs-zeromq WELCOME (another application's ZeroMQ socket, or a server too busy to answer?)`,
    };
  }
  if (attempts.accepted > 0) {
    const closed = attempts.lastError === undefined ? '' : ` (it closed the connection: ${attempts.lastError})`;
    const why = curve
      ? 'the CURVE handshake may have been refused (a wrong curve.serverKey, or a server that does not use CURVE)'
      : 'is it a ZeroMQ server?';
    return {
      endpoint,
      reason: 'no-handshake',
      detail: `something at ${endpoint} accepts connections but no ZeroMQ handshake completed${closed}: ${why}`,
    };
  }
  if (attempts.refused > 0) {
    return {
      endpoint,
      reason: 'refused',
      detail: `nothing accepts connections at ${endpoint} (refused ${attempts.refused} time${attempts.refused === 1 ? '' : 's'}): is the server running and bound to that address?`,
    };
  }
  return {
    endpoint,
    reason: 'no-answer',
    detail: `no connection to ${endpoint} was made or refused (an unreachable host, or a firewall dropping packets?)`,
  };
}

/** The engine of a client: DEALER channels (with CURVE when configured), names resolved by DNS unless `resolver`. */
export function clientEngine(
  config: ClientConfig,
  observer: SessionObserver,
  metrics: Metrics,
  status: (status: ZmqStatus) => void,
): ClientEngine {
  const engine: ClientEngine = new ClientEngine({
    metrics,
    config,
    connect: dealerChannels(config.socket, {
      ...dealerSecurity(config, () => engine),
      refused: (channel, endpoint) => warnRefused(engine, observer, channel, endpoint),
    }),
    observer,
    serializers: config.serializers,
    status,
    resolve: config.resolver ?? dnsResolver,
  });
  return engine;
}

/**
 * Reports each refused attempt (`connect:refused`) and says the first of a
 * channel at once in a log line, while no server has a session (libzmq
 * retries every `reconnectInterval`): rate-limited with the other refusals.
 */
function warnRefused(engine: ClientEngine, observer: SessionObserver, channel: Channel, endpoint: string): void {
  const attempts = channel.attempts?.refused ?? 1;
  observer.connectRefused?.(endpoint, attempts);
  if (engine.isConnected || attempts !== 1) return;
  observer.warn(
    `Nothing accepts connections at ${endpoint} (connection refused): is the server running and bound to that address? Retrying until it does`,
    'connect-refused',
  );
}
