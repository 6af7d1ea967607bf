/**
 * The writer of lib/transport/zmq-socket.ts: envelopes queued in one turn of
 * the event loop leave as one multipart message, small ones packed into one
 * BATCH (docs/PROTOCOL.md §2.1), in order, split only at maxBatch (and,
 * with earlyFlush, the first `earlyFlush` of a burst leave at once); a full
 * queue is a typed error. The reader unpacks BATCHes.
 */
import { Router } from 'zeromq';
import { ZmqQueueFullError } from 'nestjs-zeromq';
import { BYE, dataEnvelope, PING } from '../../lib/protocol/envelopes';
import { PACK_MAX_PAYLOAD } from '../../lib/protocol/batch';
import { MessageType } from '../../lib/protocol/frames';
import { ZmqSocket, ZmqSocketSettings } from '../../lib/transport/zmq-socket';
import { BATCH, parseEnvelopes } from '../helpers/wire';
import { TEST_SOCKET_SETTINGS } from '../helpers/socket-settings';
import { deadTcpEndpoint } from '../helpers/nest';

const settings: ZmqSocketSettings = TEST_SOCKET_SETTINGS;

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

function requestOf(id: number, payloadBytes: number) {
  return dataEnvelope(MessageType.Request, id, Buffer.alloc(payloadBytes, id), 1 << 20, 0, Buffer.from('p'));
}

test('envelopes queued in one turn leave as one multipart message, in order, packed in one BATCH', async () => {
  for (let id = 1; id <= 100; id++) dealer.send(request(id));
  const [, ...frames] = await router.receive();
  expect(frames).toHaveLength(2);
  expect(frames[0]![1]).toBe(BATCH);
  const envs = parseEnvelopes(frames, 0);
  expect(envs.map(e => e.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  expect(envs.every((e, i) => e.type === 3 && e.pattern === 'p' && (e.body as { n: number }).n === i + 1)).toBe(true);
});

test('with earlyFlush, the first envelopes of a burst leave at once and the rest follow, in order', async () => {
  const early = ZmqSocket.dealer({ ...settings, earlyFlush: 32 }, (_envs, _dest, err) => sendErrors.push(err));
  try {
    early.connect(router.lastEndpoint!);
    for (let id = 1; id <= 100; id++) early.send(request(id));
    const first = parseEnvelopes(await router.receive(), 1);
    const second = parseEnvelopes(await router.receive(), 1);
    expect(first).toHaveLength(32);
    expect([...first, ...second].map(e => e.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // Fewer than earlyFlush in one turn: one message, at the end of the turn.
    for (let id = 101; id <= 110; id++) early.send(request(id));
    expect(parseEnvelopes(await router.receive(), 1).map(e => e.id)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 101),
    );
  } finally {
    await early.close(0);
  }
});

test('a batch is split at maxBatch without reordering', async () => {
  for (let id = 1; id <= 300; id++) dealer.send(request(id));
  const first = await router.receive();
  const second = await router.receive();
  expect(parseEnvelopes(first, 1)).toHaveLength(256);
  expect(parseEnvelopes(second, 1)).toHaveLength(44);
  const ids = [...parseEnvelopes(first, 1), ...parseEnvelopes(second, 1)].map(e => e.id);
  expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
});

test('a lone envelope leaves as a plain pair; a payload above PACK_MAX_PAYLOAD keeps its own frame, in order', async () => {
  dealer.send(request(1));
  const [, ...lone] = await router.receive();
  expect(lone).toHaveLength(2);
  expect(lone[0]![1]).toBe(MessageType.Request);

  const big = PACK_MAX_PAYLOAD + 1;
  const sizes = [10, 20, big, 30, big, big, 40, 50, 60];
  sizes.forEach((size, i) => dealer.send(requestOf(i + 1, size)));
  const [, ...frames] = await router.receive();
  // BATCH(1,2) big(3) pair(4) big(5) big(6) BATCH(7,8,9)
  expect(frames.map(f => (f.length >= 10 && f[1] === BATCH ? 'B' : '')).filter(Boolean)).toHaveLength(2);
  expect(frames).toHaveLength(2 * 6);
  expect([frames[3]!.length, frames[7]!.length, frames[9]!.length]).toEqual([big, big, big]);
  const envs = parseEnvelopes(frames, 0);
  expect(envs.map(e => e.id)).toEqual(sizes.map((_, i) => i + 1));
  expect(envs.map(e => (e.body as Buffer).length)).toEqual(sizes);
});

test('the reader unpacks a BATCH: the layer above sees header/payload pairs', async () => {
  const peer = ZmqSocket.router(settings, (_envs, _dest, err) => sendErrors.push(err));
  await peer.bind('tcp://127.0.0.1:*');
  const received: Buffer[][] = [];
  peer.startReceiving(
    frames => received.push(frames),
    err => sendErrors.push(err),
  );
  const client = ZmqSocket.dealer(settings, (_envs, _dest, err) => sendErrors.push(err));
  client.connect((peer.raw as Router).lastEndpoint!);
  for (let id = 1; id <= 5; id++) client.send(request(id));
  for (let i = 0; i < 100 && received.length === 0; i++) await new Promise(r => setTimeout(r, 20));
  await client.close(0);
  await peer.close(0);
  expect(received).toHaveLength(1);
  expect(received[0]).toHaveLength(1 + 2 * 5);
  expect(parseEnvelopes(received[0]!, 1).map(e => e.id)).toEqual([1, 2, 3, 4, 5]);
});

test('[W-5] a lone PING, then a lone BYE, each leave as a header and an empty payload frame: never as one empty frame', async () => {
  dealer.send(PING);
  const [, ...ping] = await router.receive();
  dealer.send(BYE);
  const [, ...bye] = await router.receive();
  expect([ping, bye].map(frames => frames.map(f => f.length))).toEqual([
    [10, 0],
    [10, 0],
  ]);
  expect([ping[0]![1], bye[0]![1]]).toEqual([MessageType.Ping, MessageType.Bye]);
});

test('a send whose zeromq.js call throws at once (its socket closed underneath) is a send error, not a rejection', async () => {
  const errors: unknown[] = [];
  const orphan = ZmqSocket.dealer(settings, (envs, _dest, err) =>
    errors.push([envs.length, (err as { code?: string }).code]),
  );
  try {
    orphan.raw.close(); // zeromq.js's send() now throws EBADF synchronously
    orphan.send(request(1));
    orphan.send(request(2));
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise(r => setImmediate(r));
    expect(errors).toEqual([[2, 'EBADF']]);
    expect(orphan.queued).toBe(0);
  } finally {
    await orphan.close(0);
  }
});

test('the queue is bounded: one more than queueLimit is a QUEUE_FULL error', () => {
  for (let id = 1; id <= settings.queueLimit; id++) dealer.send(request(id));
  expect(dealer.queued).toBe(settings.queueLimit);
  expect(() => dealer.send(request(settings.queueLimit + 1))).toThrow(ZmqQueueFullError);
});

test('a DEALER reports its connection end; what it sends with no connection up waits in libzmq and goes once one is', async () => {
  // A free port outside the ephemeral range: nothing takes it before `late` binds it.
  const endpoint = await deadTcpEndpoint();
  const lonely = ZmqSocket.dealer(settings, (_envs, _dest, err) => sendErrors.push(err));
  const late = new Router({ linger: 0, receiveTimeout: 5000 });
  try {
    expect(lonely.notices).toBe(true); // ZMQ_HICCUP_MSG, so not ZMQ_IMMEDIATE (docs/PROTOCOL.md §1)
    lonely.connect(endpoint);
    lonely.send(request(1));
    await late.bind(endpoint);
    const [, ...frames] = await late.receive();
    expect(parseEnvelopes(frames, 0).map(e => e.id)).toEqual([1]);
    expect(lonely.queued).toBe(0);
  } finally {
    await lonely.close(0);
    late.close();
  }
});
