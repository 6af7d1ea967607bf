/**
 * The server checks of the key proof bound to its connection (docs/PROTOCOL.md
 * §12.2): CHALLENGE, a nonce used on another connection or twice, an unbound
 * proof. CURVE servers only (`--server-key`); skipped otherwise.
 */
import { PING } from './peer.js';
import { type Check, expectThat, Skip } from './report.js';
import { Conn, expectRefusal, type ServerKitOptions, withConns } from './server-conn.js';
import { describe, ENC, header, json, objectOf, type Seen, T } from './wire.js';

const HELLO = header(T.HELLO, { enc: ENC.JSON });

function needCurve(opts: ServerKitOptions): void {
  if (opts.curve === undefined) throw new Skip('needs --server-key (a CURVE server)');
}

/** Sends the kit's first HELLO (offering curve-key-2) and returns the CHALLENGE's nonce; fails on anything else. */
async function challenge(c: Conn, extra: Record<string, unknown> = {}): Promise<string> {
  const mark = c.socket.mark;
  await c.send([HELLO, json(c.helloOf(extra))]);
  const answer = await c.handshakeAnswer(mark);
  expectThat(answer.type === T.CHALLENGE, `a HELLO offering curve-key-2 got ${describe(answer)} (CHALLENGE expected)`);
  const nonce = objectOf(answer)?.nonce;
  expectThat(typeof nonce === 'string' && nonce.length > 0, `a CHALLENGE without a nonce: ${describe(answer)}`);
  return nonce;
}

/** Sends `payload` as a HELLO on `c` and returns what answers it. */
async function helloAnswer(c: Conn, payload: Buffer): Promise<Seen> {
  const mark = c.socket.mark;
  await c.send([HELLO, payload]);
  return c.handshakeAnswer(mark);
}

/** The bound handshake on `c`: the HELLO that answered the CHALLENGE (welcomed). */
async function join(c: Conn): Promise<Buffer> {
  const answer = json(c.helloOf({}, await challenge(c)));
  const welcome = await helloAnswer(c, answer);
  expectThat(welcome.type === T.WELCOME, `the HELLO that answered the CHALLENGE got ${describe(welcome)}`);
  return answer;
}

export const PROOF_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
  {
    id: 'S-40',
    title:
      'a HELLO offering curve-key-2 gets a CHALLENGE: a nonce of 16 bytes or more, a new one each time, no session',
    run: opts => {
      needCurve(opts);
      return withConns(opts, 1, async c => {
        const first = await challenge(c);
        expectThat(Buffer.from(first, 'base64').length >= 16, `the nonce "${first}" holds fewer than 16 bytes`);
        const second = await challenge(c);
        expectThat(second !== first, `two HELLOs got the same nonce "${first}"`);
        const mark = c.socket.mark;
        await c.send(PING);
        const pinged = await c.next(e => e.type === T.PONG || (e.type === T.ERROR && e.id === 0), 'PING answer', mark);
        expectRefusal(pinged, 'NOT_READY', 'a PING after a CHALLENGE, before its answer');
      });
    },
  },
  {
    id: 'S-41',
    title: 'the HELLO that answered a CHALLENGE, replayed on another connection, is refused AUTH_FAILED',
    run: opts => {
      needCurve(opts);
      return withConns(opts, 1, async a => {
        const answer = await join(a);
        const mark = a.socket.mark;
        const b = new Conn(opts, a.id, a.instance);
        try {
          expectRefusal(await helloAnswer(b, answer), 'AUTH_FAILED', 'the replay on another connection');
        } finally {
          b.close();
        }
        const at = await a.barrier();
        const lost = a.between(mark, at, e => e.type === T.ERROR && e.id === 0);
        expectThat(lost.length === 0, `the first connection got ${lost.map(describe).join(', ')}`);
        const reply = objectOf(a.socket.received[at]!.env);
        expectThat(reply?.code !== 'NOT_READY', 'the first connection lost its session to the replay');
      });
    },
  },
  {
    id: 'S-41',
    title: 'a nonce is single-use: the HELLO that answered it, sent again on its connection, is refused AUTH_FAILED',
    run: opts => {
      needCurve(opts);
      return withConns(opts, 1, async c => {
        const answer = await join(c);
        expectRefusal(await helloAnswer(c, answer), 'AUTH_FAILED', 'the second use of a nonce');
      });
    },
  },
  {
    id: 'S-42',
    title: 'an unbound key proof (a HELLO without curve-key-2) is refused AUTH_FAILED',
    run: opts => {
      needCurve(opts);
      return withConns(opts, 1, async c => {
        const hello = { ...c.helloOf(), features: ['curve-key'] };
        const answer = await helloAnswer(c, json(hello));
        expectThat(
          answer.type !== T.WELCOME,
          'the server welcomed an unbound key proof (allowed only while its operator migrates clients)',
        );
        expectRefusal(answer, 'AUTH_FAILED', 'an unbound key proof');
      });
    },
  },
];
