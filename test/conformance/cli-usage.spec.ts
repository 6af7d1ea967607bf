/** `nestjs-zeromq conformance`: its usage errors, and its help naming both sides. */
import { runCli, type CliIo } from '../../lib/cli/main';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: t => (out += t), err: t => (err += t), signal: new AbortController().signal };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe('nestjs-zeromq conformance', () => {
  it.each([
    [['conformance'], 'missing arguments'],
    [['conformance', 'server'], 'needs the <endpoint>'],
    [['conformance', 'peer'], 'takes "server" or "client"'],
    [['conformance', 'client', 'tcp://127.0.0.1:1'], 'unexpected argument'],
    [['conformance', 'client', '--wait', '0'], '--wait must be a positive number'],
  ])('%j is a usage error (exit 2)', async (argv, message) => {
    const { code, err } = await run(argv);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  it('--help names both sides and the options', async () => {
    const { code, out } = await run(['conformance', '--help']);
    expect(code).toBe(0);
    for (const text of ['conformance server <endpoint>', 'conformance client', '--echo', '--stream', '--await-close'])
      expect(out).toContain(text);
  });
});
