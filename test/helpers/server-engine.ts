/**
 * A ServerEngine over the fakes (FakeBinder, RecordingObserver, ManualTime),
 * listening: the setup every server-side unit spec shares. Each spec brings
 * its own host (its handlers) and config; `extra` adds deps (e.g. `yieldTo`).
 */
import type { ServerEngineConfig, ServerEngineDeps, ServerHost } from '../../lib/protocol/server/server-deps';
import { ServerEngine } from '../../lib/protocol/server/server-engine';
import { FakeBinder, RecordingObserver } from './fake-channel';
import { ManualTime } from './manual-time';

/** The config the specs start from: one tcp endpoint, id `srv`, no metadata. */
export function serverConfig(
  maxPayload: number,
  heartbeat: ServerEngineConfig['heartbeat'],
  over: Partial<ServerEngineConfig> = {},
): ServerEngineConfig {
  return { endpoints: ['tcp://127.0.0.1:*'], id: 'srv', metadata: {}, maxPayload, heartbeat, ...over };
}

export async function listeningEngine<H>(
  host: ServerHost<H>,
  config: ServerEngineConfig,
  extra: Partial<Omit<ServerEngineDeps<H>, 'config' | 'bind' | 'host' | 'observer'>> = {},
) {
  const time = new ManualTime();
  const net = new FakeBinder();
  const observer = new RecordingObserver();
  const engine = new ServerEngine<H>({
    config,
    bind: net.bind,
    host,
    observer,
    clock: time,
    scheduler: time,
    ...extra,
  });
  await engine.listen();
  return { time, net, observer, engine, ch: net.channel };
}
