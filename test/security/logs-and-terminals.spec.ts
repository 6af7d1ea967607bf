/**
 * Logs and terminals: a peer's id with terminal escape sequences reaches
 * neither the server's log nor `top` raw, a flood of refused handshakes
 * costs a few log lines (rate-limited and summarised by kind), and the CLI
 * warns when a secret key is given on its command line.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { generateCurveKeyPair, ServerZmq } from 'nestjs-zeromq';
import { parseCommand } from '../../lib/cli/args';
import { fields } from '../../lib/cli/output';
import { cliClient, SECRET_ON_COMMAND_LINE } from '../../lib/cli/session';
import { renderTop } from '../../lib/cli/top-view';
import { LOG_BURST } from '../../lib/common/log-limiter';
import { ENC, json, T } from '../helpers/wire';
import { RawPeer, VictimModule } from './attack';

const ESC = '\u001b';
const EVIL = `${ESC}]0;owned${'\u0007'}${ESC}[2J${ESC}]52;c;cm0gLXJmIH4=${'\u0007'}`;

/** A logger that keeps every line. */
function capture(): { logger: LoggerService; lines: string[] } {
  const lines: string[] = [];
  const keep = (message: unknown) => void lines.push(String(message));
  return { lines, logger: { log: keep, error: keep, warn: keep, debug: () => {}, verbose: () => {}, fatal: keep } };
}

describe('peer-chosen strings in logs and on the terminal', () => {
  let close: () => Promise<void> = async () => {};
  afterEach(() => close());

  it('a refused client with an escape-laden id is logged escaped, and a flood of refusals costs a few lines', async () => {
    const { logger, lines } = capture();
    const module = await Test.createTestingModule({ imports: [VictimModule] })
      .setLogger(logger)
      .compile();
    const server = new ServerZmq({ bind: 'tcp://127.0.0.1:*', id: 'log-srv' });
    const app = module.createNestMicroservice({ strategy: server, logger });
    await app.listen();
    const peer = new RawPeer(server.endpoints[0]!);
    close = async () => {
      peer.close();
      await app.close();
    };
    const n = 200;
    for (let i = 0; i < n; i++) {
      const hello = { version: 99, id: `${EVIL}-${i}`, metadata: {}, heartbeat: { interval: 1000, liveness: 3 } };
      await peer.envelope(T.HELLO, { enc: ENC.JSON }, json(hello));
    }
    for (let i = 0; i < n; i++) await peer.until(r => r.type === T.ERROR && r.id === 0);
    expect(server.getStats().refused).toBe(n);
    const refusals = lines.filter(l => l.includes('protocol version 99'));
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThanOrEqual(LOG_BURST);
    for (const line of lines) expect(line).not.toContain(ESC);
    expect(refusals[0]).toContain('\\x1b]0;owned');
  });

  it('top and the peers listing show control characters escaped', () => {
    const frame = {
      endpoint: 'tcp://127.0.0.1:1',
      at: new Date(0),
      intervalMs: 1000,
      rows: [
        {
          pattern: EVIL,
          requestsPerSec: 1,
          eventsPerSec: 0,
          errorsPerSec: 0,
          p50Ms: 1,
          p99Ms: 1,
          requests: 1,
          events: 0,
          cancels: 0,
          timeouts: 0,
          errors: 1,
          errorCodes: [[EVIL, 1]] as Array<[string, number]>,
        },
      ],
      snapshot: {
        serverId: EVIL,
        uptimeMs: 1,
        peers: [{ peerId: EVIL }],
        metrics: { patterns: {}, peers: 1, inFlight: 0, queued: 0 },
      },
    };
    const screen = renderTop(frame as unknown as Parameters<typeof renderTop>[0], 500, 50).join('\n');
    expect(screen).not.toContain(ESC);
    expect(screen).not.toContain('\u0007');
    expect(fields([['server', EVIL]])).not.toContain(ESC);
  });
});

describe('CLI secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zmq-cli-secret-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('warns when --secret-key is on the command line, and reads --secret-key-file without a warning', async () => {
    const server = generateCurveKeyPair();
    const pair = generateCurveKeyPair();
    const base = ['--server-key', server.publicKey, '--public-key', pair.publicKey];
    const warnings: string[] = [];
    const onLine = cliClient(['tcp://127.0.0.1:1'], parseCommand([...base, '--secret-key', pair.secretKey]), w =>
      warnings.push(w),
    );
    await onLine.close();
    expect(warnings).toEqual([SECRET_ON_COMMAND_LINE]);
    const file = join(dir, 'client.key');
    writeFileSync(file, `${pair.secretKey}\n`, { mode: 0o600 });
    const fromFile = cliClient(['tcp://127.0.0.1:1'], parseCommand([...base, '--secret-key-file', file]), w =>
      warnings.push(w),
    );
    await fromFile.close();
    expect(warnings).toHaveLength(1);
  });
});
