/**
 * lib/transport/raw-sockets.ts: a ROUTER made by the transport leaves
 * zeromq.js's default context receiving by copy (ZMQ_ZERO_COPY_RECV off), so
 * a received frame holds only its own bytes, not libzmq's read buffer.
 */
import { context } from 'zeromq';
import { createRouter } from '../../lib/transport/raw-sockets';
import { TEST_SOCKET_SETTINGS } from '../helpers/socket-settings';

const ZMQ_ZERO_COPY_RECV = 10;
const options = context as unknown as {
  getBoolOption(option: number): boolean;
  setBoolOption(option: number, value: boolean): void;
};

it('the first ROUTER turns zero-copy receive off in the default context', () => {
  // libzmq's default, whatever another spec in this worker did to the process-wide context.
  options.setBoolOption(ZMQ_ZERO_COPY_RECV, true);
  const router = createRouter(TEST_SOCKET_SETTINGS);
  try {
    expect(options.getBoolOption(ZMQ_ZERO_COPY_RECV)).toBe(false);
  } finally {
    router.close();
  }
});
