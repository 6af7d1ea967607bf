import type { HedgeSettings, RetrySettings } from '../protocol/client/retries.js';
import {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_RECONNECT_INTERVAL,
  DEFAULT_RECONNECT_MAX_INTERVAL,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_RESOLVE_INTERVAL,
  DEFAULT_STRATEGY,
  DEFAULT_RETRIES,
  DEFAULT_HEDGING,
} from '../defaults.js';
import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { ZmqStrategy } from '../interfaces/zmq-events.interface.js';
import { ZmqClientOptions } from '../interfaces/zmq-options.interface.js';
import { checkHandshakeMetadata } from '../protocol/handshake.js';
import type { ZmqSocketSettings } from '../transport/raw-sockets.js';
import {
  checkOptionsObject,
  CommonConfig,
  endpointList,
  numberOption,
  randomId,
  resolveCommon,
  socketSettings,
} from './common.js';
import { checkKnownKeys } from './validate.js';
import { CLIENT_OPTION_KEYS, SERVER_ONLY_KEYS } from './option-keys.js';
import { ClientCurveConfig, curveHelloOf, resolveClientCurve } from './security-config.js';
import type { CurveHelloOf } from '../security/hello-proof.js';
import { helloInstance } from '../protocol/client/hello.js';

/** Every option of a {@link ClientZmq}, defaulted and validated. */
export interface ClientConfig extends CommonConfig {
  readonly endpoints: readonly string[];
  /** Random token of this client object: tells a server a later connection with our id is us again. */
  readonly instance: string;
  readonly connectTimeout: number;
  /** `0`: no timeout. */
  readonly requestTimeout: number;
  readonly strategy: ZmqStrategy;
  /** Retries of idempotent calls; `undefined`: never. */
  readonly retries: RetrySettings | undefined;
  /** Hedging of idempotent calls; `undefined`: off. */
  readonly hedging: HedgeSettings | undefined;
  readonly resolveInterval: number;
  /** The `resolver` option; `undefined`: DNS. */
  readonly resolver: ((host: string) => Promise<string[]>) | undefined;
  readonly socket: Readonly<ZmqSocketSettings>;
  /** CURVE settings, when the client connects with CURVE. */
  readonly curve: ClientCurveConfig | undefined;
  /** Per endpoint slot, the HELLO's CURVE key proof (with `curve`). */
  readonly curveHello: CurveHelloOf | undefined;
}

/**
 * Resolves a client's options once, at construction: an unknown key or a bad
 * value is `INVALID_OPTIONS` naming it; metadata too large for a handshake is `TOO_LARGE`.
 */
export function resolveClientConfig(options: ZmqClientOptions): ClientConfig {
  checkOptionsObject(options, 'client');
  checkKnownKeys(options, CLIENT_OPTION_KEYS, 'client', SERVER_ONLY_KEYS);
  const endpoints = endpointList(options.connect, 'connect');
  const common = resolveCommon(options);
  const strategy = options.strategy ?? DEFAULT_STRATEGY;
  if (strategy !== 'round-robin' && strategy !== 'least-pending') {
    throw new ZmqOptionsError('strategy', `"strategy" must be 'round-robin' or 'least-pending'`);
  }
  checkHandshakeMetadata(common.metadata, 'client');
  const socket: ZmqSocketSettings = {
    ...socketSettings(options, common.maxPayload),
    reconnectInterval: numberOption(options.reconnectInterval, DEFAULT_RECONNECT_INTERVAL, 'reconnectInterval'),
    reconnectMaxInterval: numberOption(
      options.reconnectMaxInterval,
      DEFAULT_RECONNECT_MAX_INTERVAL,
      'reconnectMaxInterval',
      true,
    ),
  };
  const curve = resolveClientCurve(options, endpoints);
  const instance = randomId();
  return Object.freeze({
    ...common,
    curve,
    curveHello:
      curve === undefined
        ? undefined
        : curveHelloOf(curve, endpoints, common.id, slot => helloInstance(instance, slot)),
    endpoints: Object.freeze(endpoints),
    instance,
    connectTimeout: numberOption(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 'connectTimeout'),
    requestTimeout: numberOption(options.requestTimeout, DEFAULT_REQUEST_TIMEOUT, 'requestTimeout', true),
    strategy,
    retries: retriesOption(options.retries),
    hedging: hedgingOption(options.hedging),
    resolveInterval: numberOption(options.resolveInterval, DEFAULT_RESOLVE_INTERVAL, 'resolveInterval'),
    resolver: resolverOption(options.resolver),
    socket: Object.freeze(socket),
  });
}

function retriesOption(value: ZmqClientOptions['retries']): RetrySettings | undefined {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new ZmqOptionsError('retries', '"retries" must be false or { maxAttempts?, budget? }');
  }
  const o = value ?? {};
  for (const key of Object.keys(o)) {
    if (key !== 'maxAttempts' && key !== 'budget')
      throw new ZmqOptionsError(`retries.${key}`, `unknown retries option "${key}" (known: maxAttempts, budget)`);
  }
  const maxAttempts = numberOption(o.maxAttempts, DEFAULT_RETRIES.maxAttempts, 'retries.maxAttempts');
  if (!Number.isInteger(maxAttempts)) {
    throw new ZmqOptionsError('retries.maxAttempts', '"retries.maxAttempts" must be an integer (1: never retry)');
  }
  const budget = numberOption(o.budget, DEFAULT_RETRIES.budget, 'retries.budget', true);
  if (budget > 1) throw new ZmqOptionsError('retries.budget', '"retries.budget" must be at most 1');
  return Object.freeze({ maxAttempts, budget });
}

function hedgingOption(value: ZmqClientOptions['hedging']): HedgeSettings | undefined {
  if (value === false || value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new ZmqOptionsError('hedging', '"hedging" must be false or { delayMs?, maxAttempts? }');
  }
  return Object.freeze({ ...DEFAULT_HEDGING, ...hedgeFields(value, 'hedging') });
}

/**
 * The fields of `{ delayMs?, maxAttempts? }` that are set (the `hedging`
 * option, or a call's `hedge`), checked: a delay of 0 or more ms, an integer
 * of attempts of at least 2; anything else is INVALID_OPTIONS naming `name`.
 */
export function hedgeFields(value: object, name: string): Partial<HedgeSettings> {
  const o = value as { delayMs?: number; maxAttempts?: number };
  for (const key of Object.keys(o)) {
    if (key !== 'delayMs' && key !== 'maxAttempts')
      throw new ZmqOptionsError(`${name}.${key}`, `unknown ${name} option "${key}" (known: delayMs, maxAttempts)`);
  }
  const out: { delayMs?: number; maxAttempts?: number } = {};
  if (o.delayMs !== undefined) out.delayMs = numberOption(o.delayMs, 0, `${name}.delayMs`, true);
  if (o.maxAttempts !== undefined) {
    const max = numberOption(o.maxAttempts, 0, `${name}.maxAttempts`);
    if (!Number.isInteger(max) || max < 2) {
      throw new ZmqOptionsError(
        `${name}.maxAttempts`,
        `"${name}.maxAttempts" must be an integer of at least 2 (the first attempt and one hedge)`,
      );
    }
    out.maxAttempts = max;
  }
  return Object.freeze(out);
}

function resolverOption(value: unknown): ClientConfig['resolver'] {
  if (value === undefined || typeof value === 'function') return value as ClientConfig['resolver'];
  throw new ZmqOptionsError('resolver', '"resolver" must be a function (host) => Promise<string[]>');
}
