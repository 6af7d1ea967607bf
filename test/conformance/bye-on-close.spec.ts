/**
 * A closing server's BYE reaches a peer that did not negotiate `bye-ack`,
 * however fast its process exits after close() (SIGTERM with Nest's shutdown
 * hooks re-raises the signal the moment close() resolves): the server sends
 * a PING after the BYE and closes once the PONG proves the BYE arrived.
 * The peer is a bare DEALER that says HELLO without features and answers
 * every PING, as a client must (W-27).
 */
import { KitSocket } from '../../lib/conformance/peer';
import { ENC, header, json, T } from '../../lib/conformance/wire';
import { TsChild } from '../helpers/child';

/** The scenario, not a synchronisation: a server idle for about a second lost its BYE most often. */
const IDLE_MS = 1_500;
const idle = () => new Promise(resolve => setTimeout(resolve, IDLE_MS));

const children: TsChild[] = [];
const sockets: KitSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const c of children.splice(0)) {
    c.signal('SIGKILL');
    await c.exited;
  }
});

describe('a server closed by SIGTERM', () => {
  it.each([1, 2, 3])(
    '[S-27] [W-27] says BYE to a peer without bye-ack before its process exits (trial %i)',
    async () => {
      const child = new TsChild('test/fixtures/shutdown-server.ts');
      children.push(child);
      const [, endpoint] = await child.line(/^READY (\S+)$/, 30_000);
      const peer = KitSocket.dealer(endpoint!);
      sockets.push(peer);
      const hello = { version: 1, id: 'bare-peer', metadata: {}, heartbeat: { interval: 10_000, liveness: 3 } };
      await peer.send([[header(T.HELLO, { enc: ENC.JSON }), json(hello)]]);
      const welcome = await peer.next(a => a.env.type === T.WELCOME, 10_000, 'WELCOME');
      expect(welcome.env.payload.toString('utf8')).not.toContain('bye-ack');
      await idle();
      const mark = peer.mark;
      child.signal('SIGTERM');
      await peer.next(a => a.env.type === T.BYE, 10_000, 'BYE', mark);
      expect(await child.exited).toEqual({ code: null, signal: 'SIGTERM' });
    },
    40_000,
  );
});
