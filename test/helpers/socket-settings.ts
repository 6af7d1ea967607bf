import type { ZmqSocketSettings } from '../../lib/transport/zmq-socket';

/** Socket settings for specs that make transport sockets directly: small queues, no linger, batching as shipped. */
export const TEST_SOCKET_SETTINGS: ZmqSocketSettings = {
  linger: 0,
  sendHighWaterMark: 1000,
  receiveHighWaterMark: 1000,
  maxFrameSize: -1,
  queueLimit: 1000,
  maxBatch: 256,
  maxBatchBytes: 1024 * 1024,
  earlyFlush: Number.POSITIVE_INFINITY,
};
