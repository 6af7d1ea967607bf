import {
  DEFAULT_ADMISSION,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_INTROSPECTION,
  DEFAULT_MAX_BUFFERED_PER_PEER,
  DEFAULT_MAX_CALLS_PER_PEER,
  DEFAULT_SEND_TIMEOUT,
} from '../defaults.js';
import type { AdmissionSettings } from '../protocol/server/admission.js';
import { IntrospectionPolicy, resolveIntrospection } from '../server/introspection.js';
import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { ZmqServerOptions } from '../interfaces/zmq-options.interface.js';
import { checkHandshakeMetadata } from '../protocol/handshake.js';
import type { ZmqSocketSettings } from '../transport/raw-sockets.js';
import {
  checkOptionsObject,
  CommonConfig,
  endpointList,
  numberOption,
  resolveCommon,
  socketSettings,
} from './common.js';
import { checkKnownKeys } from './validate.js';
import { SERVER_OPTION_KEYS, CLIENT_ONLY_KEYS } from './option-keys.js';
import { resolveServerCurve, ServerCurveConfig } from './security-config.js';

/** Every option of a {@link ServerZmq}, defaulted and validated. */
export interface ServerConfig extends CommonConfig {
  readonly endpoints: readonly string[];
  readonly transportId: symbol | undefined;
  /** `0`: no drain, BYE at once. */
  readonly drainTimeout: number;
  readonly socket: Readonly<ZmqSocketSettings>;
  /** Who may read `$zmq/metrics` (docs/PROTOCOL.md §5.7). */
  readonly introspection: IntrospectionPolicy;
  /** CURVE key pair and allow-list, when the server uses CURVE. */
  readonly curve: ServerCurveConfig | undefined;
  /** Overload protection and the per-peer call budget. */
  readonly admission: AdmissionSettings;
  readonly maxBufferedPerPeer: number;
}

const ADMISSION_KEYS = ['sliceMs', 'queueTarget', 'deadlineShare', 'interval', 'maxQueued'] as const;

/** `admission` and `maxCallsPerPeer`, defaulted and validated; `admission: false` keeps only the per-peer budget. */
function admissionOf(options: ZmqServerOptions): AdmissionSettings {
  const maxCallsPerPeer = numberOption(options.maxCallsPerPeer, DEFAULT_MAX_CALLS_PER_PEER, 'maxCallsPerPeer', true);
  const a = options.admission;
  if (a === false) {
    return { ...DEFAULT_ADMISSION, maxCallsPerPeer, sliceMs: Number.POSITIVE_INFINITY, queueTarget: 0 };
  }
  if (a !== undefined && (typeof a !== 'object' || a === null)) {
    throw new ZmqOptionsError('admission', '"admission" must be false or an object');
  }
  const o = a ?? {};
  for (const key of Object.keys(o)) {
    if (!(ADMISSION_KEYS as readonly string[]).includes(key))
      throw new ZmqOptionsError(
        `admission.${key}`,
        `unknown admission option "${key}" (known: ${ADMISSION_KEYS.join(', ')})`,
      );
  }
  const deadlineShare = numberOption(o.deadlineShare, DEFAULT_ADMISSION.deadlineShare, 'admission.deadlineShare', true);
  if (deadlineShare > 1)
    throw new ZmqOptionsError('admission.deadlineShare', '"admission.deadlineShare" must be at most 1');
  return {
    ...DEFAULT_ADMISSION,
    deadlineShare,
    maxCallsPerPeer,
    sliceMs: numberOption(o.sliceMs, DEFAULT_ADMISSION.sliceMs, 'admission.sliceMs'),
    queueTarget: numberOption(o.queueTarget, DEFAULT_ADMISSION.queueTarget, 'admission.queueTarget', true),
    intervalMs: numberOption(o.interval, DEFAULT_ADMISSION.intervalMs, 'admission.interval'),
    maxQueued: numberOption(o.maxQueued, DEFAULT_ADMISSION.maxQueued, 'admission.maxQueued'),
  };
}

/**
 * Resolves a server's options once, at construction: an unknown key or a bad
 * value is `INVALID_OPTIONS` naming it; metadata too large for a handshake is `TOO_LARGE`.
 */
export function resolveServerConfig(options: ZmqServerOptions): ServerConfig {
  checkOptionsObject(options, 'server');
  checkKnownKeys(options, SERVER_OPTION_KEYS, 'server', CLIENT_ONLY_KEYS);
  const endpoints = endpointList(options.bind, 'bind');
  const common = resolveCommon(options);
  checkHandshakeMetadata(common.metadata, 'server');
  if (options.transportId !== undefined && typeof options.transportId !== 'symbol') {
    throw new ZmqOptionsError('transportId', '"transportId" must be a symbol');
  }
  const socket: ZmqSocketSettings = {
    ...socketSettings(options, common.maxPayload),
    sendTimeout: numberOption(options.sendTimeout, DEFAULT_SEND_TIMEOUT, 'sendTimeout', true),
  };
  const curve = resolveServerCurve(options, endpoints);
  return Object.freeze({
    ...common,
    endpoints: Object.freeze(endpoints),
    transportId: options.transportId,
    introspection: resolveIntrospection(options.introspection ?? DEFAULT_INTROSPECTION, curve !== undefined),
    curve,
    drainTimeout: numberOption(options.drainTimeout, DEFAULT_DRAIN_TIMEOUT, 'drainTimeout', true),
    socket: Object.freeze(socket),
    admission: Object.freeze(admissionOf(options)),
    maxBufferedPerPeer: numberOption(options.maxBufferedPerPeer, DEFAULT_MAX_BUFFERED_PER_PEER, 'maxBufferedPerPeer'),
  });
}
