/**
 * Decoder bombs and `$zmq/metrics` amplification against a default ServerZmq
 * (plus `codec: 'msgpack'` for the MessagePack forms): a payload that would
 * decode into more than the expansion limit is refused MALFORMED before it is
 * decoded, an EVENT nobody serves is never decoded and creates no metrics
 * record, `$zmq/metrics` is not served by default, and the victim's client
 * is served throughout. Synchronisation: replies and PING/PONG on the
 * attacker's one connection (ZeroMQ keeps its order); no sleeps.
 */
import 'reflect-metadata';
import { firstValueFrom } from 'rxjs';
import { ZMQ_METRICS_PATTERN, ZmqErrorCode, ZmqServerOptions } from 'nestjs-zeromq';
import { expansionProblem } from '../../lib/protocol/expansion';
import { MAX_DECODED_CONTAINERS, MAX_DECODED_VALUES } from '../../lib/protocol/limits';
import { Harness } from '../helpers/nest';
import { ENC, json, T } from '../helpers/wire';
import { RawPeer, rssMiB, runs, SOAK, VictimModule } from './attack';

const MSGPACK = 4;

/** `[{},{},…]` of about `bytes` bytes: one object per 3 bytes. */
function jsonBomb(bytes: number): Buffer {
  const n = Math.floor(bytes / 3);
  const out = Buffer.alloc(n * 3 + 1, '{},');
  out[0] = 0x5b;
  out[out.length - 1] = 0x5d;
  return out;
}

/** A MessagePack array32 of `n` empty fixmaps: one Map or object per byte. */
function msgpackBomb(n: number): Buffer {
  const out = Buffer.alloc(5 + n, 0x80);
  out[0] = 0xdd;
  out.writeUInt32BE(n, 1);
  return out;
}

describe('the expansion limit, on the bytes (no server)', () => {
  it('passes what fits and names what does not, for JSON and MessagePack alike', () => {
    expect(expansionProblem('json', json({ a: [1, 2, { b: 'x,[{' }] }))).toBeUndefined();
    expect(expansionProblem('json', jsonBomb(3 * (MAX_DECODED_CONTAINERS + 10)))).toMatch(/expansion limit/);
    expect(expansionProblem('json', Buffer.from(`[${'0,'.repeat(MAX_DECODED_VALUES + 1)}0]`))).toMatch(/values/);
    expect(expansionProblem('msgpack', msgpackBomb(MAX_DECODED_CONTAINERS))).toMatch(/expansion limit/);
    expect(expansionProblem('msgpack', msgpackBomb(1_000))).toBeUndefined();
    // A header that declares more than the payload holds (msgpackr allocates what it declares).
    expect(expansionProblem('msgpack', Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]))).toMatch(/declares more/);
    expect(expansionProblem('msgpack', Buffer.from([0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61]))).toMatch(/declares more/);
    expect(expansionProblem('msgpack', Buffer.from([0xc1]))).toMatch(/not valid MessagePack/);
    // Nested array16 headers each declaring 65,535 elements: every one would be allocated before its elements
    // are read; together they declare far more elements than the payload has tokens.
    // Each header fits in the bytes left (70,000 nils follow), but all of them together would hold 500 million.
    const headers = Buffer.alloc(3 * 8_000);
    for (let i = 0; i < headers.length; i += 3) {
      headers[i] = 0xdc;
      headers.writeUInt16BE(0xffff, i + 1);
    }
    const nested = Buffer.concat([headers, Buffer.alloc(70_000, 0xc0)]);
    expect(expansionProblem('msgpack', nested)).toMatch(/declares more/);
  });
});

describe('decoder bombs against a real server', () => {
  const h = new Harness();
  afterEach(() => h.closeAll());

  async function start(options: Omit<ZmqServerOptions, 'bind'> = {}) {
    const { server, endpoint } = await h.startServer({
      bind: 'tcp://127.0.0.1:*',
      imports: [VictimModule],
      options: { id: 'victim-srv', ...options },
    });
    const victim = await h.connectClient(endpoint, {
      id: 'victim',
      ...(options.codec ? { codec: options.codec } : {}),
    });
    const attacker = h.track(new RawPeer(endpoint));
    return { server, endpoint, victim, attacker };
  }

  it('[W-30] a JSON bomb in a request is refused MALFORMED undecoded: no handler runs, memory stays bounded', async () => {
    const { victim, attacker } = await start();
    expect((await attacker.hello()).type).toBe(T.WELCOME);
    const before = rssMiB();
    const echoes = runs.echo;
    const rounds = SOAK ? 12 : 2;
    const bomb = jsonBomb(SOAK ? 16 * 1024 * 1024 - 16 : 4 * 1024 * 1024);
    for (let i = 1; i <= rounds; i++) {
      await attacker.envelope(T.REQUEST, { id: i, enc: ENC.JSON, pattern: 'echo' }, bomb);
      const reply = await attacker.until(r => r.type === T.ERROR && r.id === i);
      expect(reply.body).toMatchObject({ code: ZmqErrorCode.MALFORMED });
      expect(String((reply.body as { message: string }).message)).toMatch(/expansion limit/);
    }
    expect(runs.echo).toBe(echoes);
    // Decoded, 4 MiB of `{},` is 1.4 million objects (over 100 MB); refused, it costs its bytes.
    expect(rssMiB() - before).toBeLessThan(128);
    expect(await firstValueFrom(victim.send('echo', { still: 'served' }))).toEqual({ still: 'served' });
  });

  it('[W-30] a MessagePack bomb (an array of empty maps, or a header declaring 4 G elements) is refused MALFORMED', async () => {
    const { victim, attacker } = await start({ codec: 'msgpack' });
    expect((await attacker.hello({ features: ['msgpack'] })).type).toBe(T.WELCOME);
    const echoes = runs.echo;
    const before = rssMiB();
    const bombs = [
      msgpackBomb(SOAK ? 16 * 1024 * 1024 - 16 : 2 * 1024 * 1024),
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (const [i, bomb] of bombs.entries()) {
      await attacker.envelope(T.REQUEST, { id: i + 1, enc: MSGPACK, pattern: 'echo' }, bomb);
      const reply = await attacker.until(r => r.type === T.ERROR && r.id === i + 1);
      expect(reply.body).toMatchObject({ code: ZmqErrorCode.MALFORMED });
    }
    expect(runs.echo).toBe(echoes);
    expect(rssMiB() - before).toBeLessThan(128);
    expect(await firstValueFrom(victim.send('echo', [1, { a: new Map([[1, 'x']]) }]))).toEqual([
      1,
      { a: new Map([[1, 'x']]) },
    ]);
  });

  it('[S-35] an EVENT nobody serves is dropped undecoded and adds no metrics record, whatever its pattern', async () => {
    const { server, victim, attacker } = await start();
    expect((await attacker.hello()).type).toBe(T.WELCOME);
    const n = SOAK ? 10_000 : 1_000;
    const bomb = jsonBomb(1024 * 1024);
    const audits = runs.audit;
    for (let i = 0; i < n; i++) {
      const pattern = `p${i}-${'x'.repeat(4_000)}`;
      await attacker.envelope(T.EVENT, { enc: ENC.JSON, pattern }, i % 100 === 0 ? bomb : json({ i }));
    }
    await attacker.sync();
    const patterns = Object.keys(server.getMetrics().patterns);
    expect(patterns).toEqual(['$unhandled']);
    expect(server.getMetrics().patterns.$unhandled!.events).toBe(n);
    // Counted as unexpected, never as an undecodable payload: nothing was decoded.
    expect(server.getStats().dropped).toMatchObject({ unexpected: n, payload: 0 });
    expect(runs.audit).toBe(audits);
    victim.emit('audit', { ok: true });
    expect(await firstValueFrom(victim.send('echo', 1))).toBe(1);
  });

  it('[S-39] $zmq/metrics is not served by default: NO_HANDLER, and no client id or pattern leaves the server', async () => {
    const { attacker } = await start();
    const welcome = await attacker.hello();
    expect((welcome.body as { patterns: string[] }).patterns).not.toContain(ZMQ_METRICS_PATTERN);
    await attacker.envelope(T.REQUEST, { id: 7, enc: ENC.JSON, pattern: ZMQ_METRICS_PATTERN }, json({}));
    const reply = await attacker.until(r => r.id === 7);
    expect(reply.type).toBe(T.ERROR);
    expect(reply.body).toMatchObject({ code: ZmqErrorCode.NO_HANDLER });
    expect(JSON.stringify(reply.body)).not.toContain('victim');
  });

  it('with introspection on, a thousand unserved patterns leave the answer small', async () => {
    const { attacker } = await start({ introspection: true });
    expect((await attacker.hello()).type).toBe(T.WELCOME);
    for (let i = 0; i < 1_000; i++) {
      await attacker.envelope(T.EVENT, { enc: ENC.JSON, pattern: `e${i}-${'x'.repeat(4_000)}` }, json(i));
      await attacker.envelope(T.REQUEST, { id: i + 1, enc: ENC.JSON, pattern: `r${i}-${'x'.repeat(4_000)}` }, json(i));
    }
    await attacker.envelope(T.REQUEST, { id: 5_000, enc: ENC.JSON, pattern: ZMQ_METRICS_PATTERN }, json({}));
    const reply = await attacker.until(r => r.id === 5_000 && r.type !== T.ERROR, 2_000);
    const size = JSON.stringify(reply.body).length;
    expect(size).toBeLessThan(16 * 1024);
    expect((reply.body as { metrics: { patterns: Record<string, unknown> } }).metrics.patterns).toHaveProperty(
      '$unhandled',
    );
  });
});
