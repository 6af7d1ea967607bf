export { ServerZmq, ZMQ_TRANSPORT } from './server/server-zmq';
export { ClientZmq } from './client/client-zmq';
export { ZmqPeerEvents } from './common/peer-events';
export { ZmqContext } from './ctx-host/zmq.context';
export type { ZmqContextArgs } from './ctx-host/zmq.context';
export * from './errors/zmq.errors';
export * from './interfaces/zmq-options.interface';
export * from './interfaces/zmq-events.interface';
export type { DropCounterKey } from './protocol/drop-counter';
export { PROTOCOL_VERSION } from './protocol/limits';
export * as defaults from './defaults';
import type { ZmqDropCounts, ZmqStats } from './interfaces/zmq-events.interface';
/** @deprecated The same as {@link ZmqStats}. */
export type ZmqServerStats = ZmqStats;
/** @deprecated The same as {@link ZmqStats}. */
export type ZmqClientStats = ZmqStats;
/** @deprecated The same as {@link ZmqDropCounts}. */
export type DropCounts = ZmqDropCounts;
