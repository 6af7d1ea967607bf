import { loadMsgpack } from '../common/msgpack-loader.js';
import { loadTracing, tracingLoaded } from '../common/tracing.js';
import type { ClientConfig } from '../config/client-config.js';
import type { ZmqStatus } from '../interfaces/zmq-events.interface.js';
import type { SessionObserver } from '../protocol/channel.js';
import { ClientEngine } from '../protocol/client/client-engine.js';
import type { Metrics } from '../protocol/metrics.js';
import { tcpProbe } from '../transport/tcp-probe.js';
import { dealerChannels } from '../transport/zmq-channels.js';
import { dealerSecurity } from './client-security.js';
import { dnsResolver } from './dns-resolver.js';

/**
 * What `ClientZmq.connect()` runs: the optional modules (msgpackr with
 * `codec: 'msgpack'`, the OpenTelemetry API) loaded once, then the engine's
 * cached connect (its CONNECT_REFUSED and CONNECT_TIMEOUT say what each
 * endpoint met, from the probe given in {@link clientEngine}). Nothing is
 * allocated per call once the modules are loaded.
 */
export function connector(engine: () => ClientEngine, config: ClientConfig): () => Promise<void> {
  const codecLoad = config.msgpack ? once(loadMsgpack) : undefined;
  return () => {
    if (codecLoad === undefined && tracingLoaded()) return engine().connect();
    return Promise.all([codecLoad?.(), loadTracing()]).then(() => engine().connect());
  };
}

function once(load: () => Promise<void>): () => Promise<void> {
  let loading: Promise<void> | undefined;
  return () => (loading ??= load());
}

/**
 * The engine of a client: DEALER channels (with CURVE when configured),
 * names resolved by DNS unless `resolver`, and the endpoints probed with
 * Node's `net` while `connect()` waits.
 */
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
    diagnostics: { probe: tcpProbe, curve: config.curve !== undefined },
  });
  return engine;
}
