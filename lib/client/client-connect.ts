import { loadMsgpack } from '../common/msgpack-loader.js';
import { loadTracing, tracingLoaded } from '../common/tracing.js';
import type { ClientConfig } from '../config/client-config.js';
import type { ClientEngine } from '../protocol/client/client-engine.js';
import { withSecurityHint } from './client-security.js';

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
