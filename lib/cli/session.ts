import { readFileSync } from 'node:fs';
import { Logger } from '@nestjs/common';
import { ClientZmq } from '../client/client-zmq.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, UsageError, type CliIo, type Parsed } from './args.js';
import { printError } from './output.js';

/** The client id the CLI says HELLO with (a server's logs name it). */
export const CLI_CLIENT_ID_PREFIX = 'nestjs-zeromq-cli';

/** Thrown by {@link untilAborted} when the user interrupts. */
export class Interrupted extends Error {}

/** The warning a secret key given on the command line gets (any local user can read a process's arguments). */
export const SECRET_ON_COMMAND_LINE =
  'warning: --secret-key on the command line is readable by any local user (ps, /proc/<pid>/cmdline); use --secret-key-file or NESTJS_ZEROMQ_SECRET_KEY';

/** The client a command uses: its endpoints, with `--timeout` for the handshake and for each reply. */
export function cliClient(endpoints: string[], parsed: Parsed, warn: (text: string) => void = () => {}): ClientZmq {
  // The transport's own log lines (peer joined/left) would mix with the output.
  Logger.overrideLogger(false);
  const t = parsed.timeoutMs;
  if (typeof parsed.values['secret-key'] === 'string') warn(SECRET_ON_COMMAND_LINE);
  const curve = curveOf(parsed);
  return new ClientZmq({
    connect: endpoints,
    id: `${CLI_CLIENT_ID_PREFIX}-${process.pid}`,
    metadata: { cli: 'nestjs-zeromq' },
    ...(t !== undefined ? { connectTimeout: t, requestTimeout: t } : {}),
    ...(curve !== undefined ? { curve } : {}),
  });
}

/** `--server-key` (and the client's pair) from the line or the environment: the client's `curve` option. */
function curveOf(parsed: Parsed): { serverKey: string; publicKey?: string; secretKey?: string } | undefined {
  const pick = (option: string, env: string) => {
    const v = parsed.values[option];
    return typeof v === 'string' ? v : process.env[env];
  };
  const serverKey = pick('server-key', 'NESTJS_ZEROMQ_SERVER_KEY');
  if (serverKey === undefined) return undefined;
  const publicKey = pick('public-key', 'NESTJS_ZEROMQ_PUBLIC_KEY');
  const secretKey = secretKeyOf(parsed) ?? pick('secret-key', 'NESTJS_ZEROMQ_SECRET_KEY');
  return { serverKey, ...(publicKey !== undefined && secretKey !== undefined ? { publicKey, secretKey } : {}) };
}

/** The secret key in the file `--secret-key-file` names (its first line), if given. */
function secretKeyOf(parsed: Parsed): string | undefined {
  const path = parsed.values['secret-key-file'];
  if (typeof path !== 'string') return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --secret-key-file ${path}: ${(err as Error).message}`);
  }
  return text.split(/\r?\n/, 1)[0]!.trim();
}

/** Resolves as `promise` does, or rejects with {@link Interrupted} once `signal` aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Interrupted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Interrupted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      v => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Connects a client to `endpoints`, runs `body` with it and closes it (BYE)
 * whatever happens. An error is printed and gives exit code 1 (nothing
 * accepting connections at any endpoint ends the wait at once:
 * CONNECT_REFUSED); an interrupt gives 130.
 */
export async function withClient(
  endpoints: string[],
  parsed: Parsed,
  io: CliIo,
  body: (client: ClientZmq) => Promise<number>,
): Promise<number> {
  const client = cliClient(endpoints, parsed, text => io.err(text));
  try {
    await untilAborted(client.connect(), io.signal);
    return await body(client);
  } catch (err) {
    if (err instanceof Interrupted) return EXIT_INTERRUPTED;
    printError(io, err, parsed.json);
    return EXIT_FAILED;
  } finally {
    await client.close();
  }
}
