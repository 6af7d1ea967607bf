export { ServerZmq, ZMQ_TRANSPORT } from './server/server-zmq.js';
export { ClientZmq } from './client/client-zmq.js';
export { ZmqRecord, ZmqRecordBuilder } from './client/zmq-record.js';
export type { ZmqCallOptions } from './client/zmq-record.js';
export { ZmqClientsModule } from './client/zmq-clients.module.js';
export type { ZmqClientAsyncRegistration, ZmqClientRegistration } from './client/zmq-clients.module.js';
export { ZmqPeerEvents } from './common/peer-events.js';
export { ZmqContext } from './ctx-host/zmq.context.js';
export type { ZmqContextArgs } from './ctx-host/zmq.context.js';
export * from './errors/zmq.errors.js';
export * from './errors/zmq.errors.js';
export * from './interfaces/zmq-options.interface.js';
export * from './interfaces/zmq-events.interface.js';
export type * from './interfaces/zmq-metrics.interface.js';
export { ZMQ_METRICS_PATTERN } from './server/introspection.js';
export type { ZmqIntrospection } from './server/introspection.js';
export { ZMQ_LATENCY_BUCKETS } from './protocol/metrics.js';
export type { DropCounterKey } from './protocol/drop-counter.js';
export { PROTOCOL_VERSION } from './protocol/limits.js';
export type { ZmqPingResult } from './protocol/client/ping-probe.js';
export { generateCurveKeyPair } from './security/keys.js';
export type { CurveKeyPair } from './security/keys.js';
export * as defaults from './defaults.js';
import type { ZmqDropCounts, ZmqStats } from './interfaces/zmq-events.interface.js';
/** @deprecated The same as {@link ZmqStats}. */
export type ZmqServerStats = ZmqStats;
/** @deprecated The same as {@link ZmqStats}. */
export type ZmqClientStats = ZmqStats;
/** @deprecated The same as {@link ZmqDropCounts}. */
export type DropCounts = ZmqDropCounts;
