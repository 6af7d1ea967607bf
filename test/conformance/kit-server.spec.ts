/**
 * The conformance kit's server side run against ServerZmq: every check it
 * can make passes, with the echo and stream patterns named and without them
 * (then the checks that need them are skipped, never failed).
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { range } from 'rxjs';
import { runServerConformance, type Verdict } from '../../lib/conformance';
import { generateCurveKeyPair } from '../../lib/security/keys';
import { Harness } from '../helpers/nest';

@Controller()
class KitController {
  @MessagePattern('echo')
  echo(data: unknown): unknown {
    return data;
  }

  @MessagePattern('count')
  count(n: number) {
    return range(0, n);
  }
}

const h = new Harness();
let verdicts: Verdict[];
let output = '';

beforeAll(async () => {
  const { endpoint } = await h.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [KitController] });
  verdicts = await runServerConformance(
    { endpoint, echo: 'echo', stream: 'count', timeoutMs: 5_000 },
    line => (output += line),
  );
}, 120_000);

afterAll(() => h.closeAll());

const verdictsOf = (id: string) => verdicts.filter(v => v.id === id);

describe('conformance server against ServerZmq', () => {
  it('fails no check and prints one line per check and a summary; only the close and CURVE checks skip', () => {
    expect(verdicts.filter(v => v.outcome === 'FAIL')).toEqual([]);
    expect(verdicts.filter(v => v.outcome === 'SKIP').map(v => v.id)).toEqual([
      'S-40',
      'S-41',
      'S-41',
      'S-42',
      'S-27',
      'S-19',
    ]);
    expect(output.trimEnd().split('\n')).toHaveLength(verdicts.length + 1);
    expect(output).toMatch(/^conformance: \d+ passed, 0 failed, 6 skipped$/m);
  });

  it.each([
    ['[S-1] [W-1] HELLO fields: required, optional, unknown, invalid', 'S-1'],
    ['[S-2] a malformed HELLO envelope is refused', 'S-2'],
    ['[S-3] WELCOME fields and features', 'S-3'],
    ['[S-4] VERSION_MISMATCH in the server own version', 'S-4'],
    ['[S-5] ERROR(0) fields', 'S-5'],
    ['[S-6] renewal', 'S-6'],
    ['[S-7] an id held elsewhere is refused', 'S-7'],
    ['[S-8] handover', 'S-8'],
    ['[S-9] before the handshake', 'S-9'],
    ['[S-10] one reply sequence', 'S-10'],
    ['[S-11] a duplicate request id is dropped', 'S-11'],
    ['[S-12] NO_HANDLER', 'S-12'],
    ['[W-2] [S-12] MALFORMED for undecodable payloads', 'W-13'],
    ['[S-14] events are not answered', 'S-14'],
    ['[S-15] CANCEL', 'S-15'],
    ['[S-16] a renewal ends the calls', 'S-16'],
    ['[S-17] an unparsable traceparent', 'S-17'],
    ['[S-18] deadlines', 'S-18'],
    ['[S-21] DRAIN while not draining', 'S-21'],
    ['[S-24] a STREAM REQUEST without credit', 'S-24'],
    ['[S-25] a request-stream CHUNK beyond the window', 'S-25'],
    ['[S-26] CHUNK and END for no request stream', 'S-26'],
    ['[W-3] a message of odd frames', 'W-3'],
    ['[W-4] envelopes in order past a malformed one', 'W-4'],
    ['[W-6] BATCH unpacked', 'W-6'],
    ['[W-7] a malformed BATCH', 'W-7'],
    ['[W-8] another version inside a session', 'W-8'],
    ['[W-9] [W-10] header rules, trailing bytes, pattern limit', 'W-10'],
    ['[W-11] metadata rules and limit', 'W-11'],
    ['[W-12] unknown type', 'W-12'],
    ['[W-13] [W-14] undecodable payloads, MSGPACK not agreed', 'W-13'],
    ['[W-19] credit', 'W-19'],
    ['[W-21] a CREDIT for no call', 'W-21'],
    ['[W-26] the handshake limit', 'W-26'],
    ['[W-27] PING and PONG', 'W-27'],
    ['[W-29] bye-ack', 'W-29'],
  ])('%s: PASS', (_title, id) => {
    const mine = verdictsOf(id);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.map(v => v.outcome)).toEqual(mine.map(() => 'PASS'));
  });
});

describe('conformance server --await-close against ServerZmq', () => {
  const closing = new Harness();
  afterAll(() => closing.closeAll());

  it('[S-27] [S-19] [S-20] BYE on every session when the server closes, DRAIN first where agreed', async () => {
    const { app, endpoint } = await closing.startServer({ bind: 'tcp://127.0.0.1:*', controllers: [KitController] });
    let closed: Promise<void> | undefined;
    const run = await runServerConformance({ endpoint, timeoutMs: 5_000, awaitCloseMs: 15_000 }, line => {
      if (line === 'AWAITING CLOSE\n') closed = app.close();
    });
    await closed;
    expect(run.filter(v => v.outcome === 'FAIL')).toEqual([]);
    expect(run.filter(v => v.id === 'S-27' || v.id === 'S-19').map(v => v.outcome)).toEqual(['PASS', 'PASS']);
  }, 60_000);
});

describe('conformance server --server-key against a CURVE ServerZmq', () => {
  const curved = new Harness();
  afterAll(() => curved.closeAll());

  it('[S-29] every check passes over CURVE, each HELLO proving the kit key', async () => {
    const serverPair = generateCurveKeyPair();
    const { endpoint } = await curved.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [KitController],
      options: { curve: serverPair, allow: '*' },
    });
    const run = await runServerConformance(
      {
        endpoint,
        echo: 'echo',
        stream: 'count',
        timeoutMs: 5_000,
        curve: { serverKey: serverPair.publicKey, ...generateCurveKeyPair() },
      },
      () => undefined,
    );
    expect(run.filter(v => v.outcome === 'FAIL')).toEqual([]);
    expect(run.filter(v => v.outcome === 'PASS').length).toBeGreaterThan(30);
  }, 60_000);

  it('[S-40] [S-41] [S-42] the bound key proof: CHALLENGE, no replay on another connection, single-use nonces, no unbound proof', async () => {
    const serverPair = generateCurveKeyPair();
    const { endpoint } = await curved.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [KitController],
      options: { curve: serverPair, allow: '*' },
    });
    const run = await runServerConformance(
      { endpoint, timeoutMs: 5_000, curve: { serverKey: serverPair.publicKey, ...generateCurveKeyPair() } },
      () => undefined,
    );
    const proof = run.filter(v => ['S-40', 'S-41', 'S-42'].includes(v.id));
    expect(proof.map(v => `${v.id} ${v.outcome}`)).toEqual(['S-40 PASS', 'S-41 PASS', 'S-41 PASS', 'S-42 PASS']);
  }, 60_000);

  it('[S-42] against a server that accepts unbound proofs, the kit fails S-42 and nothing else', async () => {
    const serverPair = generateCurveKeyPair();
    const { endpoint } = await curved.startServer({
      bind: 'tcp://127.0.0.1:*',
      controllers: [KitController],
      options: { curve: serverPair, allow: '*', acceptUnboundKeyProof: true },
    });
    const run = await runServerConformance(
      { endpoint, timeoutMs: 5_000, curve: { serverKey: serverPair.publicKey, ...generateCurveKeyPair() } },
      () => undefined,
    );
    expect(run.filter(v => v.outcome === 'FAIL').map(v => v.id)).toEqual(['S-42']);
  }, 60_000);
});
