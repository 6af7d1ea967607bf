/**
 * `npx nestjs-zeromq keygen`: prints a fresh CURVE key pair, as JSON (the
 * default) or as env-file lines. The CLI dispatcher calls {@link keygenMain}
 * with the arguments after `keygen`.
 */
import { generateCurveKeyPair } from '../security/keys.js';

const USAGE = `Usage: nestjs-zeromq keygen [--json | --env] [--prefix NAME]

Prints a new CURVE key pair (Z85, 40 characters each) for the "curve" options
of ServerZmq and ClientZmq. Keep the secret key secret; give the public key to
peers (a server's to its clients' curve.serverKey, a client's to the server's allow).

  --json           {"publicKey": "...", "secretKey": "..."} (the default)
  --env            env-file lines: ZMQ_CURVE_PUBLIC_KEY='...' and ZMQ_CURVE_SECRET_KEY='...'
  --prefix NAME    with --env: NAME_PUBLIC_KEY and NAME_SECRET_KEY instead (NAME: A-Z, 0-9, _)
  -h, --help       this text
`;

interface KeygenArgs {
  format: 'json' | 'env';
  prefix: string;
  help: boolean;
}

/** The parsed arguments, or what is wrong with them. */
function parse(argv: readonly string[]): KeygenArgs | string {
  const args: KeygenArgs = { format: 'json', prefix: 'ZMQ_CURVE', help: false };
  let formats = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') args.help = true;
    else if (arg === '--json' || arg === '--env') {
      args.format = arg === '--json' ? 'json' : 'env';
      formats++;
    } else if (arg === '--prefix' || arg.startsWith('--prefix=')) {
      const value = arg === '--prefix' ? argv[++i] : arg.slice('--prefix='.length);
      if (value === undefined || !/^[A-Z_][A-Z0-9_]*$/.test(value)) {
        return '--prefix needs a name of A-Z, 0-9 and _ (not starting with a digit)';
      }
      args.prefix = value;
    } else return `unknown argument "${arg}"`;
  }
  if (formats > 1) return 'choose one of --json and --env';
  return args;
}

/**
 * Runs `keygen` with `argv` (the arguments after `keygen`), writing its
 * output through `write`. Returns the exit code: 0, or 2 for bad arguments.
 */
export function keygenMain(argv: string[], write: (text: string) => void): number {
  const args = parse(argv);
  if (typeof args === 'string') {
    write(`nestjs-zeromq keygen: ${args}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    write(USAGE);
    return 0;
  }
  const pair = generateCurveKeyPair();
  if (args.format === 'json') {
    write(`${JSON.stringify({ publicKey: pair.publicKey, secretKey: pair.secretKey }, null, 2)}\n`);
  } else {
    // Single quotes: Z85 has no quote or backslash, and its $ # & stay literal in shells and dotenv files.
    write(`${args.prefix}_PUBLIC_KEY='${pair.publicKey}'\n${args.prefix}_SECRET_KEY='${pair.secretKey}'\n`);
  }
  return 0;
}
