/**
 * The ZAP handler (lib/transport/zap.ts): one socket on
 * inproc://zeromq.zap.01 that answers for every CURVE server of a zeromq
 * context, stopped when the last of them closes, and bound again at once by
 * the next CURVE server (no EADDRINUSE, "Address already in use").
 */
import { registerZapDomain } from '../../lib/transport/zap';

/**
 * A CURVE server started as soon as the last one closed (a restart in the
 * same process, and every CURVE spec's next test). libzmq frees a closed
 * socket's inproc name in its reaper thread, after zmq_close() returns: the
 * new bind could come first: stop() unbinds the name (zmq_unbind frees an
 * inproc name before it returns) before it closes the socket, and the next
 * start waits for that stop.
 */
/** Restarts of the handler: enough that a race hit one time in a hundred shows. */
const RESTARTS = 300;

it('a CURVE server started as soon as the last one closed gets the ZAP handler, every time', async () => {
  const failures: string[] = [];
  for (let i = 0; i < RESTARTS; i++) {
    try {
      const release = await registerZapDomain(
        `zap-restart/${i}`,
        () => Promise.resolve(true),
        () => undefined,
      );
      release();
    } catch (err) {
      failures.push(String(err));
    }
  }
  expect(failures).toEqual([]);
});
