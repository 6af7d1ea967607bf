import { loadMsgpack } from '../common/msgpack-loader.js';
import { loadTracing, tracingLoaded } from '../common/tracing.js';
import type { ClientConfig } from '../config/client-config.js';
import type { ZmqStatus } from '../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../protocol/channel.js';
import { ClientEngine } from '../protocol/client/client-engine.js';
import type { Metrics } from '../protocol/metrics.js';
import { dealerChannels } from '../transport/zmq-channels.js';
import { dealerSecurity, withSecurityHint } from './client-security.js';
import { dnsResolver } from './dns-resolver.js';

/**
 * What `ClientZmq.connect()` runs: the optional modules (msgpackr with
 * `codec: 'msgpack'`, the OpenTelemetry API) loaded once, then the engine's
 * cached connect; a CONNECT_TIMEOUT gets its security hint. The same engine
 * promise gives the same returned promise: nothing is allocated per call.
 */
export function connector(engine: () => ClientEngine, config: ClientConfig): () => Promise<void> {
  const codecLoad = config.msgpack ? once(loadMsgpack) : undefined;
  let last: Promise<void> | undefined;
  let hinted: Promise<void> | undefined;
  const hint = (connecting: Promise<void>) => {
    if (connecting !== last) {
      last = connecting;
      hinted = connecting.catch((err: unknown) => {
        throw withSecurityHint(err, config);
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
    connect: dealerChannels(
      config.socket,
      dealerSecurity(config, () => engine),
    ),
    observer,
    serializers: config.serializers,
    status,
    resolve: config.resolver ?? dnsResolver,
  });
  return engine;
}
