import { randomBytes } from 'node:crypto';
import {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_LIVENESS,
  DEFAULT_LINGER,
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_PAYLOAD_SIZE,
  DEFAULT_RECEIVE_HWM,
  DEFAULT_SEND_HWM,
  DEFAULT_SEND_QUEUE_LIMIT,
  MAX_METADATA_BYTES,
  MAX_PATTERN_BYTES,
} from './constants';
import { ZmqCommonOptions } from './interfaces/zmq-options.interface';
import { HeartbeatSettings } from './protocol/handshake';
import type { ZmqSocketSettings } from './transport/zmq-socket';

/** A random 16-byte hex id. */
export function randomId(): string {
  return randomBytes(16).toString('hex');
}

export function toList(value: string | string[] | undefined, name: string): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.some(e => typeof e !== 'string' || e.length === 0)) {
    throw new TypeError(`nestjs-zeromq: "${name}" needs at least one endpoint string`);
  }
  return list;
}

function positive(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`nestjs-zeromq: "${name}" must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return value;
}

export { positive as checkNumber };

export function maxPayloadOf(options: ZmqCommonOptions): number {
  return positive(options.maxPayloadSize, DEFAULT_MAX_PAYLOAD_SIZE, 'maxPayloadSize');
}

export function heartbeatOf(options: ZmqCommonOptions): HeartbeatSettings {
  return {
    interval: positive(options.heartbeatInterval, DEFAULT_HEARTBEAT_INTERVAL, 'heartbeatInterval'),
    liveness: positive(options.heartbeatLiveness, DEFAULT_HEARTBEAT_LIVENESS, 'heartbeatLiveness'),
  };
}

/** Socket settings from user options (no zeromq import here: only the type). */
export function socketSettingsOf(options: ZmqCommonOptions, sendTimeout?: number): ZmqSocketSettings {
  const maxPayload = maxPayloadOf(options);
  // libzmq's limit applies per frame: the payload frame or the largest header.
  const largestHeader = 10 + MAX_PATTERN_BYTES + 2 + MAX_METADATA_BYTES;
  return {
    linger: positive(options.linger, DEFAULT_LINGER, 'linger', true),
    sendHighWaterMark: positive(options.sendHighWaterMark, DEFAULT_SEND_HWM, 'sendHighWaterMark', true),
    receiveHighWaterMark: positive(options.receiveHighWaterMark, DEFAULT_RECEIVE_HWM, 'receiveHighWaterMark', true),
    maxFrameSize: Math.max(maxPayload, largestHeader, 256 * 1024),
    sendTimeout,
    queueLimit: positive(options.sendQueueLimit, DEFAULT_SEND_QUEUE_LIMIT, 'sendQueueLimit'),
    maxBatch: DEFAULT_MAX_BATCH,
    maxBatchBytes: DEFAULT_MAX_BATCH_BYTES,
  };
}
