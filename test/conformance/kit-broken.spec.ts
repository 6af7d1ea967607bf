/**
 * The conformance kit fails a server that breaks rules: a hand-driven
 * zeromq.js ROUTER that welcomes every HELLO, valid or not (S-1), and
 * otherwise answers PING with PONG and every REQUEST with NO_HANDLER.
 */
import { Router } from 'zeromq';
import { runCli, type CliIo } from '../../lib/cli/main';
import { EMPTY, ENC, header, json, T } from '../helpers/wire';

/** Serves until its socket closes; every wait of the loop ends when it does. */
async function brokenServer(sock: Router): Promise<void> {
  for (;;) {
    let frames: Buffer[];
    try {
      frames = await sock.receive();
    } catch {
      return;
    }
    const rid = frames[0]!;
    if (frames.length < 3) continue;
    const out: Buffer[] = [];
    for (const m of headersOf(frames)) {
      if (m.type === T.HELLO) {
        const welcome = { version: 1, id: 'broken', metadata: {}, heartbeat: { interval: 10_000, liveness: 3 } };
        out.push(header(T.WELCOME, { enc: ENC.JSON }), json({ ...welcome, patterns: [], events: [] }));
      } else if (m.type === T.PING) {
        out.push(header(T.PONG), EMPTY);
      } else if (m.type === T.REQUEST && m.id !== 0) {
        const error = { status: 'error', code: 'NO_HANDLER', message: 'none', pattern: m.pattern };
        out.push(header(T.ERROR, { id: m.id, enc: ENC.JSON }), json(error));
      }
    }
    if (out.length > 0) await sock.send([rid, ...out]).catch(() => undefined);
  }
}

/** Type, id and pattern of each envelope of version 1, read from the headers alone (payloads are never read). */
function headersOf(frames: Buffer[]): Array<{ type: number; id: number; pattern: string }> {
  const out: Array<{ type: number; id: number; pattern: string }> = [];
  for (let i = 1; i + 1 < frames.length; i += 2) {
    const h = frames[i]!;
    if (h.length < 10 || h[0] !== 1) continue;
    out.push({ type: h[1]!, id: h.readUInt32BE(4), pattern: h.toString('utf8', 10, 10 + h.readUInt16BE(8)) });
  }
  return out;
}

describe('conformance server against a broken server', () => {
  it('[S-1] prints FAIL S-1 for a server that welcomes an invalid HELLO, and exits 1', async () => {
    const sock = new Router({ linger: 0 });
    await sock.bind('tcp://127.0.0.1:*');
    const serving = brokenServer(sock);
    let out = '';
    const io: CliIo = { out: t => (out += t), err: t => (out += t), signal: new AbortController().signal };
    try {
      const code = await runCli(['conformance', 'server', sock.lastEndpoint!, '--timeout', '500'], io);
      expect(code).toBe(1);
    } finally {
      sock.close();
      await serving;
    }
    expect(out).toMatch(
      /^FAIL S-1 an invalid HELLO is refused HANDSHAKE_REFUSED: a payload that is not JSON: got WELCOME/m,
    );
    expect(out).toMatch(/^PASS W-27 a PING on a session gets a PONG$/m);
    expect(out).toMatch(/^conformance: \d+ passed, [1-9]\d* failed, \d+ skipped$/m);
  }, 120_000);
});
