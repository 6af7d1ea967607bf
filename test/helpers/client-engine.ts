/**
 * A ClientEngine over the fakes (FakeConnector, RecordingObserver,
 * StatusRecorder, ManualTime): the setup every client-side unit spec shares.
 * Each spec overrides the config fields its scenario is about; `extra` adds
 * deps (a resolver, metrics, a status listener of its own).
 */
import type { ClientEngineConfig, ClientEngineDeps } from '../../lib/protocol/client/client-deps';
import { ClientEngine } from '../../lib/protocol/client/client-engine';
import { MessageType, OutEnvelope } from '../../lib/protocol/frames';
import { handshakeEnvelope, Welcome } from '../../lib/protocol/handshake';
import { FakeChannel, FakeConnector, RecordingObserver, StatusRecorder } from './fake-channel';
import { ManualTime } from './manual-time';

/** The endpoints the specs connect to (fake channels: nothing is resolved or dialled). */
export const A = 'tcp://a:1';
export const B = 'tcp://b:2';
/** The maxPayload of the default config. */
export const MAX_PAYLOAD = 64 * 1024;

/** The config the specs start from: one endpoint (A), id `client-1`, a 100 ms heartbeat, round-robin. */
export function clientConfig(over: Partial<ClientEngineConfig> = {}): ClientEngineConfig {
  return {
    endpoints: [A],
    id: 'client-1',
    instance: 'inst',
    metadata: {},
    connectTimeout: 1_000,
    requestTimeout: 5_000,
    maxPayload: MAX_PAYLOAD,
    heartbeat: { interval: 100, liveness: 3 },
    strategy: 'round-robin',
    ...over,
  };
}

export type ExtraClientDeps = Partial<
  Omit<ClientEngineDeps, 'config' | 'connect' | 'observer' | 'clock' | 'scheduler'>
>;

/** Extra deps, or a function of the engine's manual clock that gives them (e.g. metrics on that clock). */
export type ExtraDepsOf = ExtraClientDeps | ((time: ManualTime) => ExtraClientDeps);

/** A ClientEngine on the manual clock; `ch(endpoint)` is the latest fake channel to an endpoint. */
export function clientEngine(over: Partial<ClientEngineConfig> = {}, extra: ExtraDepsOf = {}) {
  const time = new ManualTime();
  const net = new FakeConnector();
  const observer = new RecordingObserver();
  const status = new StatusRecorder();
  const engine = new ClientEngine({
    config: clientConfig(over),
    connect: net.connect,
    observer,
    status: status.push,
    clock: time,
    scheduler: time,
    ...(typeof extra === 'function' ? extra(time) : extra),
  });
  return { time, net, observer, status, engine, ch: (endpoint: string): FakeChannel => net.channel(endpoint) };
}

export type ClientSetup = ReturnType<typeof clientEngine>;

/** What a WELCOME may say beyond its id and patterns (a 1 s heartbeat, version 1 and no events by default). */
export interface WelcomeFields {
  events?: string[];
  metadata?: Record<string, unknown>;
  version?: number;
  instance?: string;
  heartbeat?: Welcome['heartbeat'];
  features?: string[];
  window?: number;
}

/** A server's WELCOME envelope. */
export function welcome(id: string, patterns: string[], o: WelcomeFields = {}): OutEnvelope {
  return handshakeEnvelope(MessageType.Welcome, {
    version: o.version ?? 1,
    id,
    ...(o.instance !== undefined ? { instance: o.instance } : {}),
    metadata: o.metadata ?? {},
    heartbeat: o.heartbeat ?? { interval: 1_000, liveness: 3 },
    patterns,
    events: o.events ?? [],
    ...(o.features !== undefined ? { features: o.features } : {}),
    ...(o.window !== undefined ? { window: o.window } : {}),
  });
}

/**
 * An engine whose links got their WELCOME, in the order given (endpoint,
 * envelope), with connect() resolved. The endpoints default to the keys given.
 */
export async function connectedEngine(
  welcomes: ReadonlyArray<readonly [string, OutEnvelope]>,
  over: Partial<ClientEngineConfig> = {},
  extra: ExtraDepsOf = {},
): Promise<ClientSetup> {
  const s = clientEngine({ endpoints: welcomes.map(([endpoint]) => endpoint), ...over }, extra);
  const connecting = s.engine.connect();
  for (const [endpoint, env] of welcomes) s.ch(endpoint).deliver(env);
  await connecting;
  return s;
}

/** An engine with one endpoint (A), welcomed by a server (`srv-a` unless `fields.id` names it) serving `patterns`. */
export function connectedOne(
  over: Partial<ClientEngineConfig> = {},
  patterns: string[] = ['echo'],
  fields: WelcomeFields & { id?: string } = {},
  extra: ExtraDepsOf = {},
): Promise<ClientSetup> {
  const { id = 'srv-a', ...rest } = fields;
  return connectedEngine([[A, welcome(id, patterns, rest)]], over, extra);
}

/** An engine with two endpoints, welcomed by `srv-a` on A first, then `srv-b` on B. */
export function connectedBoth(
  over: Partial<ClientEngineConfig> = {},
  a: { patterns?: string[] } & WelcomeFields = {},
  b: { patterns?: string[] } & WelcomeFields = {},
  extra: ExtraDepsOf = {},
): Promise<ClientSetup> {
  return connectedEngine(
    [
      [A, welcome('srv-a', a.patterns ?? ['echo'], a)],
      [B, welcome('srv-b', b.patterns ?? ['echo'], b)],
    ],
    over,
    extra,
  );
}
