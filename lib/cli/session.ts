import { Logger } from '@nestjs/common';
import { ClientZmq } from '../client/client-zmq.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, type CliIo, type Parsed } from './args.js';
import { printError } from './output.js';

/** The client id the CLI says HELLO with (a server's logs name it). */
export const CLI_CLIENT_ID_PREFIX = 'nestjs-zeromq-cli';

/** Thrown by {@link untilAborted} when the user interrupts. */
export class Interrupted extends Error {}

/** The client a command uses: its endpoints, with `--timeout` for the handshake and for each reply. */
export function cliClient(endpoints: string[], parsed: Parsed): ClientZmq {
  // The transport's own log lines (peer joined/left) would mix with the output.
  Logger.overrideLogger(false);
  const t = parsed.timeoutMs;
  return new ClientZmq({
    connect: endpoints,
    id: `${CLI_CLIENT_ID_PREFIX}-${process.pid}`,
    metadata: { cli: 'nestjs-zeromq' },
    ...(t !== undefined ? { connectTimeout: t, requestTimeout: t } : {}),
  });
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
 * whatever happens. An error is printed and gives exit code 1; an interrupt
 * gives 130.
 */
export async function withClient(
  endpoints: string[],
  parsed: Parsed,
  io: CliIo,
  body: (client: ClientZmq) => Promise<number>,
): Promise<number> {
  const client = cliClient(endpoints, parsed);
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
