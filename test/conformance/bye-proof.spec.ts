/**
 * A closing ROUTER waits for the proof that each BYE arrived before it closes
 * (S-27): the BYE of a peer that answers it, or else the PONG to the PING it
 * sends after the BYE. The linger is longer than Jest's test timeout, so a
 * close() that ended by its time limit instead of the proof fails the test.
 */
import { Dealer } from 'zeromq';
import { BYE } from '../../lib/protocol/envelopes';
import { ZmqSocket, type ZmqSocketSettings } from '../../lib/transport/zmq-socket';
import { EMPTY, header, T } from '../../lib/conformance/wire';

const SETTINGS: ZmqSocketSettings = {
  linger: 60_000,
  sendHighWaterMark: 1_000,
  receiveHighWaterMark: 1_000,
  maxFrameSize: -1,
  sendTimeout: 1_000,
  queueLimit: 1_000,
  maxBatch: 256,
  earlyFlush: 32,
  maxBatchBytes: 1 << 20,
};

/** Types of the envelopes the peer receives, until `type` is among them (at most 10 messages). */
async function receiveUntil(peer: Dealer, type: number): Promise<number[]> {
  const types: number[] = [];
  for (let n = 0; n < 10 && !types.includes(type); n++) {
    const frames = await peer.receive();
    for (let i = 0; i < frames.length; i += 2) types.push(frames[i]![1]!);
  }
  return types;
}

async function routerWithPeer(): Promise<{ router: ZmqSocket; peer: Dealer; rid: Buffer }> {
  const router = ZmqSocket.router(SETTINGS, () => undefined);
  const endpoint = await router.bind('tcp://127.0.0.1:*');
  let onRid!: (rid: Buffer) => void;
  const ridKnown = new Promise<Buffer>(resolve => (onRid = resolve));
  router.startReceiving(
    frames => onRid(frames[0]!),
    () => undefined,
  );
  const peer = new Dealer({ linger: 0, receiveTimeout: 10_000 });
  peer.connect(endpoint);
  await peer.send([header(T.PING), EMPTY]);
  return { router, peer, rid: await ridKnown };
}

describe('ZmqSocket.close() on a ROUTER', () => {
  it('[S-27] after a BYE, sends a PING and closes once its PONG arrives', async () => {
    const { router, peer, rid } = await routerWithPeer();
    try {
      router.send(BYE, rid);
      let closed = false;
      const closing = router.close().then(() => (closed = true));
      const types = await receiveUntil(peer, T.PING);
      expect(types.indexOf(T.BYE)).toBeLessThan(types.indexOf(T.PING));
      expect(closed).toBe(false);
      await peer.send([header(T.PONG), EMPTY]);
      await closing;
    } finally {
      peer.close();
    }
  });

  it('[S-27] [W-29] takes the peer answering BYE with a BYE as the proof', async () => {
    const { router, peer, rid } = await routerWithPeer();
    try {
      router.send(BYE, rid);
      let closed = false;
      const closing = router.close().then(() => (closed = true));
      await receiveUntil(peer, T.BYE);
      expect(closed).toBe(false);
      await peer.send([header(T.BYE), EMPTY]);
      await closing;
    } finally {
      peer.close();
    }
  });

  it('with no BYE said, closes without a PING', async () => {
    const { router, peer } = await routerWithPeer();
    try {
      await router.close();
      expect(router.isClosed).toBe(true);
    } finally {
      peer.close();
    }
  });
});
