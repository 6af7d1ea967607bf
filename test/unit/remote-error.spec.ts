/**
 * ZmqRemoteError (docs/PROTOCOL.md §6): what a caller gets for the payload of
 * an ERROR. Its `status` is whatever the remote error carried: the receiver
 * assumes no type for it, and reads `code` and `message` the same whatever it is.
 */
import { ZmqErrorCode, ZmqRemoteError } from '../../lib/errors/zmq.errors';

describe('ZmqRemoteError', () => {
  it('[W-23] keeps a status of any type as it came, and reads code and message the same whatever the status', () => {
    for (const status of ['error', 402, { http: 402 }, null, true, undefined]) {
      const payload = { status, code: 'E_PAY', message: 'pay first' };
      const err = new ZmqRemoteError(payload);
      expect(err.status).toEqual(status);
      expect(err.code).toBe('E_PAY');
      expect(err.message).toBe('pay first');
      expect(err.error).toBe(payload);
    }
  });

  it('has no status when the remote error is not an object, or has none', () => {
    expect(new ZmqRemoteError({ message: 'no status' }).status).toBeUndefined();
    expect(new ZmqRemoteError('text')).toMatchObject({ status: undefined, message: 'text' });
    expect(new ZmqRemoteError(402)).toMatchObject({
      status: undefined,
      code: ZmqErrorCode.REMOTE_ERROR,
      message: 'Remote error',
    });
  });
});
