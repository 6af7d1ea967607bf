/**
 * The CLI's answer when no server is there: nothing listening ends the
 * command at once with CONNECT_REFUSED naming the endpoint (there is nothing
 * to wait for); something listening that never completes a handshake ends
 * with a CONNECT_TIMEOUT that says what was seen, never a guess about CURVE.
 * Runs the commands in process (runCli).
 */
import { createServer, Socket } from 'node:net';
import { runCli } from '../../lib/cli/main';
import { deadTcpEndpoint } from '../helpers/nest';

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    out: t => void (stdout += t),
    err: t => void (stderr += t),
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

describe('nestjs-zeromq with no server at the endpoint', () => {
  it('ping ends at once with CONNECT_REFUSED: "nothing accepts connections at X" (exit 1)', async () => {
    const endpoint = await deadTcpEndpoint();
    // A --timeout far beyond the test's own: only an answer at the first refusal passes.
    const r = await run('ping', endpoint, '--timeout', '600000');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error CONNECT_REFUSED: Nothing accepts connections at ${endpoint} (connection refused): is the server running and bound to that address?\n`,
    );
  });

  it('--json carries the same code and message', async () => {
    const endpoint = await deadTcpEndpoint();
    const r = await run('call', endpoint, 'sum', '[1]', '--timeout', '600000', '--json');
    expect(r.code).toBe(1);
    const line = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(line.error.code).toBe('CONNECT_REFUSED');
    expect(line.error.message).toContain(`Nothing accepts connections at ${endpoint}`);
  });

  it('something that accepts but never speaks ZeroMQ: CONNECT_TIMEOUT saying so, not CURVE', async () => {
    const sockets = new Set<Socket>();
    const server = createServer(s => void sockets.add(s.on('error', () => undefined)));
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
      const r = await run('ping', endpoint, '--timeout', '500');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error CONNECT_TIMEOUT: No server completed the handshake within 500 ms: /);
      expect(r.stderr).toContain(`something at ${endpoint} accepts connections but no ZeroMQ handshake completed`);
      expect(r.stderr).not.toContain('CURVE');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>(resolve => server.close(() => resolve()));
    }
  });
});
