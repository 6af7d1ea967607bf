import { EXIT_INTERRUPTED, EXIT_OK, expectPositionals, patternOf, payloadOf, type CliIo } from './args.js';
import type { ClientZmq } from '../client/client-zmq.js';
import { defineCommand } from './command.js';
import { valueLine } from './output.js';
import { withClient } from './session.js';

/** `stream <endpoint> <pattern> [json]`: every value of a streamed reply, one per line; Ctrl-C cancels. */
export const streamCommand = defineCommand({
  summary: 'send a request and print each value of the reply as it comes; Ctrl-C cancels it on the server',
  usage: `Usage: nestjs-zeromq stream <endpoint> <pattern> [<json>] [options]

Sends one request and prints each value of its reply on a line of its own as
it arrives (strings as they are, anything else as JSON; with --json every value
as JSON), until the server ends the stream. Ctrl-C (SIGINT) cancels the
request: the server unsubscribes the handler's Observable, so its teardown
runs; the exit code is then 130. An error reply exits 1, as for "call".

  nestjs-zeromq stream tcp://127.0.0.1:4001 math.count 5
  nestjs-zeromq stream tcp://127.0.0.1:4001 '{"cmd":"ticks"}' --json`,
  async run(parsed, io) {
    const [endpoint, rawPattern, rawPayload] = expectPositionals(parsed, 2, 3);
    const pattern = patternOf(rawPattern!);
    const payload = payloadOf(rawPayload);
    return withClient([endpoint!], parsed, io, client => printStream(client, pattern, payload, parsed.json, io));
  },
});

/**
 * Prints the values until the stream ends (resolves 0), fails (rejects with
 * the error) or the user interrupts (unsubscribes, which sends CANCEL; 130).
 */
function printStream(client: ClientZmq, pattern: unknown, payload: unknown, json: boolean, io: CliIo): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const sub = client.send<unknown>(pattern, payload).subscribe({
      next: value => io.out(valueLine(value, json) + '\n'),
      error: (err: unknown) => {
        io.signal.removeEventListener('abort', onAbort);
        reject(err);
      },
      complete: () => {
        io.signal.removeEventListener('abort', onAbort);
        resolve(EXIT_OK);
      },
    });
    function onAbort(): void {
      sub.unsubscribe();
      resolve(EXIT_INTERRUPTED);
    }
    if (io.signal.aborted) onAbort();
    else io.signal.addEventListener('abort', onAbort, { once: true });
  });
}
