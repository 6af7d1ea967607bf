/**
 * lib/transport/handshake-monitor.ts attaches a socket's libzmq monitor and
 * tries again while the monitor's inproc endpoint is still taken: zeromq.js
 * names that endpoint after the observer's address, which a new observer can
 * share with a freed one whose socket libzmq has not reaped yet.
 */
import { Dealer, Observer } from 'zeromq';
import { attachMonitor } from '../../lib/transport/handshake-monitor';

/** A socket whose `events` getter fails `failures` times with `code`, then returns a monitor. */
function flakySocket(failures: number, code: string) {
  const monitor = {} as Observer;
  let calls = 0;
  const raw = {
    get events(): Observer {
      calls++;
      if (calls <= failures) throw Object.assign(new Error('Address already in use'), { code });
      return monitor;
    },
  };
  return { socket: { raw } as never, monitor, calls: () => calls };
}

describe('attachMonitor', () => {
  it('tries again while the endpoint is in use and returns the monitor it gets', () => {
    const { socket, monitor, calls } = flakySocket(3, 'EADDRINUSE');
    expect(attachMonitor(socket)).toBe(monitor);
    expect(calls()).toBe(4);
  });

  it('gives up after its attempts and throws the last error', () => {
    const { socket, calls } = flakySocket(10, 'EADDRINUSE');
    expect(() => attachMonitor(socket, 4)).toThrow('Address already in use');
    expect(calls()).toBe(4);
  });

  it('throws any other error at once', () => {
    const { socket, calls } = flakySocket(1, 'EINVAL');
    expect(() => attachMonitor(socket)).toThrow('Address already in use');
    expect(calls()).toBe(1);
  });

  it('attaches to many short-lived real sockets in a row', () => {
    for (let i = 0; i < 200; i++) {
      const dealer = new Dealer({ linger: 0 });
      const events = attachMonitor({ raw: dealer } as never);
      expect(events.closed).toBe(false);
      events.close();
      dealer.close();
    }
  });
});
