import { randomBytes } from 'node:crypto';
import {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_LIVENESS,
  DEFAULT_LINGER,
  DEFAULT_MAX_PAYLOAD_SIZE,
  DEFAULT_RECEIVE_HWM,
  DEFAULT_SEND_HWM,
  DEFAULT_SEND_QUEUE_LIMIT,
  DEFAULT_STREAM_BUFFER_LIMIT,
  DEFAULT_STREAM_WINDOW,
} from '../defaults.js';
import { ZmqOptionsError } from '../errors/zmq.errors.js';
import { ZmqCommonOptions } from '../interfaces/zmq-options.interface.js';
import { HeartbeatSettings, MAX_WINDOW } from '../protocol/handshake.js';
import { MAX_METADATA_BYTES, MAX_PATTERN_BYTES } from '../protocol/limits.js';
import { EARLY_FLUSH_ENVELOPES, MAX_BATCH_BYTES, MAX_BATCH_ENVELOPES } from '../protocol/tuning.js';
import type { PacketCodec, PacketDeserializer, PacketSerializer } from '../protocol/packet-codec.js';
import type { ZmqSocketSettings } from '../transport/raw-sockets.js';
import { checkEndpoint } from './validate.js';

/** A random 16-byte hex id. */
export function randomId(): string {
  return randomBytes(16).toString('hex');
}

/** Keys of the options both sides take (ZmqCommonOptions). */
export const COMMON_OPTION_KEYS = [
  'id',
  'metadata',
  'maxPayloadSize',
  'sendQueueLimit',
  'linger',
  'sendHighWaterMark',
  'receiveHighWaterMark',
  'heartbeatInterval',
  'heartbeatLiveness',
  'serializer',
  'deserializer',
  'codec',
  'metrics',
  'streamWindow',
  'streamBufferLimit',
] as const satisfies readonly (keyof ZmqCommonOptions)[];

/** One or more endpoints, each checked as ZeroMQ reads it. */
export function endpointList(value: string | string[] | undefined, name: 'bind' | 'connect'): string[] {
  const list: unknown[] = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.some(e => typeof e !== 'string' || e.length === 0)) {
    throw new ZmqOptionsError(name, `"${name}" needs at least one endpoint string`);
  }
  for (const endpoint of list as string[]) checkEndpoint(endpoint, name);
  return [...(list as string[])];
}

/** A plain options object, or a typed error (not a TypeError from reading `undefined`). */
export function checkOptionsObject(options: unknown, side: 'client' | 'server'): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const required = side === 'client' ? 'connect' : 'bind';
    throw new ZmqOptionsError(required, `the ${side} needs an options object with "${required}"`);
  }
}

/** `value`, or `fallback` when unset; INVALID_OPTIONS unless a positive (or, with `allowZero`, non-negative) number. */
export function numberOption(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ZmqOptionsError(name, `"${name}" must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return value;
}

/** `value`, or `fallback` when unset; INVALID_OPTIONS unless a boolean. */
export function booleanOption(value: boolean | undefined, fallback: boolean, name: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ZmqOptionsError(name, `"${name}" must be true or false`);
  return value;
}

/** The options both sides share, resolved. */
export interface CommonConfig {
  readonly id: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly maxPayload: number;
  readonly heartbeat: Readonly<HeartbeatSettings>;
  /** The `serializer` / `deserializer` options. */
  readonly serializers: Readonly<PacketCodec>;
  /** `codec: 'msgpack'`: MessagePack offered (client) or accepted (server) in the handshake. */
  readonly msgpack: boolean;
  /** `metrics` (default true): per-pattern counters and histograms are kept. */
  readonly metrics: boolean;
  /** `streamWindow` (undefined for 0: no credit offered) and `streamBufferLimit` (§6). */
  readonly stream: Readonly<{ window: number | undefined; bufferLimit: number }>;
}

export function resolveCommon(options: ZmqCommonOptions): CommonConfig {
  const metadata = options.metadata ?? {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ZmqOptionsError('metadata', '"metadata" must be an object');
  }
  if (options.id !== undefined && (typeof options.id !== 'string' || options.id.length === 0)) {
    throw new ZmqOptionsError('id', '"id" must be a non-empty string');
  }
  return {
    serializers: Object.freeze(serializersOf(options)),
    msgpack: codecOf(options) === 'msgpack',
    metrics: booleanOption(options.metrics, true, 'metrics'),
    id: options.id ?? randomId(),
    metadata,
    maxPayload: numberOption(options.maxPayloadSize, DEFAULT_MAX_PAYLOAD_SIZE, 'maxPayloadSize'),
    stream: Object.freeze(streamOf(options)),
    heartbeat: Object.freeze({
      interval: numberOption(options.heartbeatInterval, DEFAULT_HEARTBEAT_INTERVAL, 'heartbeatInterval'),
      liveness: numberOption(options.heartbeatLiveness, DEFAULT_HEARTBEAT_LIVENESS, 'heartbeatLiveness'),
    }),
  };
}

function streamOf(options: ZmqCommonOptions): { window: number | undefined; bufferLimit: number } {
  const window = numberOption(options.streamWindow, DEFAULT_STREAM_WINDOW, 'streamWindow', true);
  if (!Number.isInteger(window) || window > MAX_WINDOW) {
    throw new ZmqOptionsError('streamWindow', `"streamWindow" must be an integer from 0 to ${MAX_WINDOW}`);
  }
  const bufferLimit = numberOption(options.streamBufferLimit, DEFAULT_STREAM_BUFFER_LIMIT, 'streamBufferLimit');
  return { window: window === 0 ? undefined : window, bufferLimit };
}

function codecOf(options: ZmqCommonOptions): 'json' | 'msgpack' {
  const codec = options.codec ?? 'json';
  if (codec !== 'json' && codec !== 'msgpack')
    throw new ZmqOptionsError('codec', `"codec" must be 'json' or 'msgpack'`);
  return codec;
}

function serializersOf(options: ZmqCommonOptions): PacketCodec {
  const { serializer, deserializer } = options;
  if (serializer !== undefined && typeof (serializer as Partial<PacketSerializer>)?.serialize !== 'function') {
    throw new ZmqOptionsError('serializer', '"serializer" must have a serialize(value) method');
  }
  if (deserializer !== undefined && typeof (deserializer as Partial<PacketDeserializer>)?.deserialize !== 'function') {
    throw new ZmqOptionsError('deserializer', '"deserializer" must have a deserialize(value) method');
  }
  return { ...(serializer ? { serializer } : {}), ...(deserializer ? { deserializer } : {}) };
}

/** Socket settings from user options (no zeromq import here: only the type). */
export function socketSettings(options: ZmqCommonOptions, maxPayload: number): ZmqSocketSettings {
  // libzmq's limit applies per frame: the payload frame or the largest header.
  const largestHeader = 10 + MAX_PATTERN_BYTES + 2 + MAX_METADATA_BYTES;
  return {
    linger: numberOption(options.linger, DEFAULT_LINGER, 'linger', true),
    sendHighWaterMark: numberOption(options.sendHighWaterMark, DEFAULT_SEND_HWM, 'sendHighWaterMark', true),
    receiveHighWaterMark: numberOption(options.receiveHighWaterMark, DEFAULT_RECEIVE_HWM, 'receiveHighWaterMark', true),
    maxFrameSize: Math.max(maxPayload, largestHeader, 256 * 1024),
    queueLimit: numberOption(options.sendQueueLimit, DEFAULT_SEND_QUEUE_LIMIT, 'sendQueueLimit'),
    maxBatch: MAX_BATCH_ENVELOPES,
    earlyFlush: EARLY_FLUSH_ENVELOPES,
    maxBatchBytes: MAX_BATCH_BYTES,
  };
}
