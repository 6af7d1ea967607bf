/**
 * The CLI's answer when nothing listens at the endpoint: the CONNECT_TIMEOUT
 * line says that nothing accepts connections there, not that CURVE may be
 * the cause. Runs the commands in process (runCli) against a dead port.
 */
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
  it('ping says "nothing accepts connections at X" (exit 1)', async () => {
    const endpoint = await deadTcpEndpoint();
    const r = await run('ping', endpoint, '--timeout', '500');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error CONNECT_TIMEOUT: No server completed the handshake within 500 ms: /);
    expect(r.stderr).toContain(`nothing accepts connections at ${endpoint}`);
    expect(r.stderr).not.toContain('CURVE');
  });

  it('--json carries the same message', async () => {
    const endpoint = await deadTcpEndpoint();
    const r = await run('call', endpoint, 'sum', '[1]', '--timeout', '500', '--json');
    expect(r.code).toBe(1);
    const line = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(line.error.code).toBe('CONNECT_TIMEOUT');
    expect(line.error.message).toContain(`nothing accepts connections at ${endpoint}`);
  });
});
