import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What every command gets: where to write, and a signal aborted on Ctrl-C (SIGINT) or SIGTERM. */
export interface CliIo {
  /** Writes to stdout (the result: values, JSON). */
  out(text: string): void;
  /** Writes to stderr (errors, progress). */
  err(text: string): void;
  /** Aborted when the user interrupts the command. */
  signal: AbortSignal;
  /** The terminal, when stdin and stdout are one (`top` then draws full-screen and reads keys). */
  terminal?: CliTerminal;
}

/** A terminal `top` can draw on: an output with a size, an input with raw mode. */
export interface CliTerminal {
  output: { columns?: number; rows?: number; write(text: string): unknown };
  input: {
    setRawMode?(raw: boolean): unknown;
    on(event: 'data', listener: (data: Buffer | string) => void): unknown;
    off(event: 'data', listener: (data: Buffer | string) => void): unknown;
    resume(): unknown;
    pause(): unknown;
  };
}

/** A command's exit code: 0 done, 1 failed (an error was printed), 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** A command the user interrupted (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/** The options every command takes, anywhere on the line. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'server-key': { type: 'string' },
  'public-key': { type: 'string' },
  'secret-key': { type: 'string' },
  'secret-key-file': { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** The help lines of {@link COMMON_OPTIONS}. */
export const COMMON_HELP = `Options:
  --timeout <ms>  how long to wait for the handshake and for each reply (default: 5000 ms
                  for the handshake, 30000 ms for a reply)
  --json          machine-readable output: one JSON document (or one per line for a stream)
  --server-key <z85>  talk CURVE: the server's public key (also NESTJS_ZEROMQ_SERVER_KEY)
  --public-key <z85>, --secret-key-file <path>  this client's CURVE key pair (also NESTJS_ZEROMQ_PUBLIC_KEY,
                  NESTJS_ZEROMQ_SECRET_KEY); without them a fresh pair (an allow: '*' server takes it).
                  --secret-key <z85> works too, but any local user can read a command line: use the file
                  or the environment
  -h, --help      this help`;

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

export interface Parsed {
  positionals: string[];
  json: boolean;
  help: boolean;
  /** `--timeout`, checked: a positive number of milliseconds. */
  timeoutMs: number | undefined;
  values: Record<string, string | boolean | undefined>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `--name value` as `--name=value` for every option that takes a value: a
 * Z85 key may begin with `-`, which parseArgs would otherwise refuse as
 * ambiguous (one key in 85).
 */
function joinValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return out.concat(argv.slice(i));
    const takesValue = arg.startsWith('--') && !arg.includes('=') && options[arg.slice(2)]?.type === 'string';
    if (takesValue && i + 1 < argv.length) out.push(`${arg}=${argv[++i]!}`);
    else out.push(arg);
  }
  return out;
}

/** Parses `argv` with the common options plus `extra`; throws {@link UsageError} on anything unknown. */
export function parseCommand(argv: string[], extra: Options = {}): Parsed {
  const options = { ...COMMON_OPTIONS, ...extra };
  let parsed;
  try {
    parsed = parseArgs({ args: joinValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  return {
    positionals: parsed.positionals,
    json: values.json === true,
    help: values.help === true,
    timeoutMs: timeoutOf(values.timeout),
    values,
  };
}

function timeoutOf(raw: string | boolean | undefined): number | undefined {
  if (raw === undefined || typeof raw === 'boolean') return undefined;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new UsageError(`--timeout must be a positive number of milliseconds, not "${raw}"`);
  return ms;
}

/**
 * A pattern as typed: an object pattern is JSON (`'{"cmd":"sum"}'`), anything
 * else is the string itself.
 */
export function patternOf(raw: string): string | Record<string, unknown> {
  if (!raw.trimStart().startsWith('{')) return raw;
  const value = jsonOf(raw, 'pattern');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`an object pattern must be a JSON object, not ${raw}`);
  }
  return value as Record<string, unknown>;
}

/** A payload as typed: JSON (`'[1,2]'`, `'"text"'`, `5`); none is `{}`. */
export function payloadOf(raw: string | undefined): unknown {
  if (raw === undefined) return {};
  return jsonOf(raw, 'payload');
}

function jsonOf(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new UsageError(`the ${what} is not JSON (${(err as Error).message}); quote a string as '"text"'`);
  }
}

/** Checks the number of positionals; returns them. */
export function expectPositionals(parsed: Parsed, min: number, max: number): string[] {
  const n = parsed.positionals.length;
  if (n < min) throw new UsageError('missing arguments');
  if (n > max) throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`);
  return parsed.positionals;
}
