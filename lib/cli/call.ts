import { lastValueFrom, toArray } from 'rxjs';
import { EXIT_OK, expectPositionals, patternOf, payloadOf } from './args.js';
import { defineCommand } from './command.js';
import { untilAborted, withClient } from './session.js';

/** `call <endpoint> <pattern> [json]`: one request, its reply printed. */
export const callCommand = defineCommand({
  summary: 'send a request and print the reply (a typed error exits 1)',
  usage: `Usage: nestjs-zeromq call <endpoint> <pattern> [<json>] [options]

Sends one request to the server at <endpoint> and prints its reply as JSON
(pretty-printed; one line with --json). <pattern> is a string, or an object
pattern as JSON; <json> is the payload as JSON (default {}). A reply that is a
stream is printed as an array of its values (see "stream" to print them as
they come). An error reply is printed with its code (on stderr; with --json as
{"error":{"code","message"}} on stdout) and the exit code is 1. A payload that
starts with "-" goes after "--".

  nestjs-zeromq call tcp://127.0.0.1:4001 math.sum '[1,2,3]'
  nestjs-zeromq call tcp://127.0.0.1:4001 '{"cmd":"sum"}' '[1,2]' --json
  nestjs-zeromq call tcp://127.0.0.1:4001 math.negate -- -5`,
  async run(parsed, io) {
    const [endpoint, rawPattern, rawPayload] = expectPositionals(parsed, 2, 3);
    const pattern = patternOf(rawPattern!);
    const payload = payloadOf(rawPayload);
    return withClient([endpoint!], parsed, io, async client => {
      const values = await untilAborted(
        lastValueFrom(client.send<unknown>(pattern, payload).pipe(toArray())),
        io.signal,
      );
      const reply = values.length === 1 ? values[0] : values;
      io.out((parsed.json ? JSON.stringify(reply) : JSON.stringify(reply, null, 2)) + '\n');
      return EXIT_OK;
    });
  },
});
