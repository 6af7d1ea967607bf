/** `nestjs-zeromq keygen` (lib/cli/keygen.ts), called as the CLI dispatcher calls it. */
import { execFileSync } from 'node:child_process';
import { keygenMain } from '../../lib/cli/keygen';
import { isCurveKey, publicKeyOf } from '../../lib/security/keys';

function run(argv: string[]): { code: number; out: string } {
  let out = '';
  const code = keygenMain(argv, text => (out += text));
  return { code, out };
}

describe('keygen', () => {
  test('prints a key pair as JSON by default, and with --json', () => {
    for (const argv of [[], ['--json']]) {
      const { code, out } = run(argv);
      expect(code).toBe(0);
      const pair = JSON.parse(out) as { publicKey: string; secretKey: string };
      expect(Object.keys(pair)).toEqual(['publicKey', 'secretKey']);
      expect(isCurveKey(pair.publicKey) && isCurveKey(pair.secretKey)).toBe(true);
      expect(publicKeyOf(pair.secretKey)).toBe(pair.publicKey);
    }
  });

  test('a new pair every time', () => {
    expect(run([]).out).not.toBe(run([]).out);
  });

  test('--env prints env-file lines that a shell reads back unchanged', () => {
    const { code, out } = run(['--env', '--prefix', 'MATH']);
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^MATH_PUBLIC_KEY='.{40}'$/);
    expect(lines[1]).toMatch(/^MATH_SECRET_KEY='.{40}'$/);
    // Z85 holds $, # and & : the quoting must keep them literal.
    const echoed = execFileSync('sh', [
      '-c',
      `${out}\nprintf '%s\\n%s' "$MATH_PUBLIC_KEY" "$MATH_SECRET_KEY"`,
    ]).toString();
    const [publicKey, secretKey] = echoed.split('\n');
    expect(publicKeyOf(secretKey!)).toBe(publicKey);
    expect(run(['--env']).out).toMatch(/^ZMQ_CURVE_PUBLIC_KEY='/);
  });

  test('--help prints the usage; a bad argument prints it too and exits 2', () => {
    expect(run(['--help'])).toEqual({ code: 0, out: expect.stringContaining('Usage: nestjs-zeromq keygen') });
    for (const argv of [['--yaml'], ['--json', '--env'], ['--env', '--prefix'], ['--env', '--prefix=1X']]) {
      const { code, out } = run(argv);
      expect(code).toBe(2);
      expect(out).toMatch(/^nestjs-zeromq keygen: .+\n\nUsage:/);
    }
  });
});
