/**
 * The CLI's option parsing (lib/cli/args.ts): a value that begins with `-`
 * (a Z85 key can) is taken as the option's value.
 */
import { parseCommand, UsageError } from '../../lib/cli/args';

const KEY = '-Z7mCwq<1b/Y8n5+Jt>5DHe1xDiCtsI2r*0{Vf}H';

it('takes a value beginning with "-" after an option that has one, in either form', () => {
  for (const argv of [
    ['ping', 'tcp://127.0.0.1:1', '--public-key', KEY, '--timeout', '50'],
    ['ping', 'tcp://127.0.0.1:1', `--public-key=${KEY}`, '--timeout=50'],
  ]) {
    const parsed = parseCommand(argv);
    expect(parsed.values['public-key']).toBe(KEY);
    expect(parsed.timeoutMs).toBe(50);
    expect(parsed.positionals).toEqual(['ping', 'tcp://127.0.0.1:1']);
  }
});

it('leaves flags, short options and everything after "--" as they are', () => {
  const parsed = parseCommand(['-h', '--json', 'call', '--', '--public-key']);
  expect(parsed.help).toBe(true);
  expect(parsed.json).toBe(true);
  expect(parsed.positionals).toEqual(['call', '--public-key']);
});

it('an unknown option is a usage error', () => {
  expect(() => parseCommand(['--nope', 'x'])).toThrow(UsageError);
});
