/**
 * The writer of lib/transport/zmq-socket.ts: envelopes queued in one turn of
 * the event loop leave as one multipart message (header/payload pairs), in
 * order, split only at maxBatch; a full queue is a typed error.
 */
import { Router } from 'zeromq';
import { ZmqQueueFullError } from 'nestjs-zeromq';
import { dataEnvelope } from '../../lib/protocol/envelopes';
import { MessageType } from '../../lib/protocol/frames';
import { ZmqSocket, ZmqSocketSettings } from '../../lib/transport/zmq-socket';
import { parseEnvelopes } from '../helpers/wire';

const settings: ZmqSocketSettings = {
  linger: 0,
  sendHighWaterMark: 1000,
  receiveHighWaterMark: 1000,
  maxFrameSize: -1,
  queueLimit: 1000,
  maxBatch: 256,
  maxBatchBytes: 1024 * 1024,
};

let router: Router;
let dealer: ZmqSocket;
const sendErrors: unknown[] = [];

beforeEach(async () => {
  router = new Router({ linger: 0, receiveTimeout: 5000 });
  await router.bind('tcp://127.0.0.1:*');
  dealer = ZmqSocket.dealer(settings, (_envs, _dest, err) => sendErrors.push(err));
  dealer.connect(router.lastEndpoint!);
});

afterEach(async () => {
  await dealer.close(0);
  router.close();
  expect(sendErrors).toEqual([]);
});

function request(id: number) {
  return dataEnvelope(MessageType.Request, id, { n: id }, 1 << 20, 0, Buffer.from('p'));
}

test('envelopes queued in one turn leave as one multipart message, in order', async () => {
  for (let id = 1; id <= 100; id++) dealer.send(request(id));
  const [, ...frames] = await router.receive();
  expect(frames).toHaveLength(200);
  const envs = parseEnvelopes(frames, 0);
  expect(envs.map(e => e.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  expect(envs.every((e, i) => e.type === 3 && e.pattern === 'p' && (e.body as { n: number }).n === i + 1)).toBe(true);
});

test('a batch is split at maxBatch without reordering', async () => {
  for (let id = 1; id <= 300; id++) dealer.send(request(id));
  const first = await router.receive();
  const second = await router.receive();
  expect(first.length - 1).toBe(2 * 256);
  expect(second.length - 1).toBe(2 * 44);
  const ids = [...parseEnvelopes(first, 1), ...parseEnvelopes(second, 1)].map(e => e.id);
  expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
});

test('the queue is bounded: one more than queueLimit is a QUEUE_FULL error', () => {
  for (let id = 1; id <= settings.queueLimit; id++) dealer.send(request(id));
  expect(dealer.queued).toBe(settings.queueLimit);
  expect(() => dealer.send(request(settings.queueLimit + 1))).toThrow(ZmqQueueFullError);
});
