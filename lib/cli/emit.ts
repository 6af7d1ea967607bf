import { lastValueFrom } from 'rxjs';
import { EXIT_OK, expectPositionals, patternOf, payloadOf } from './args.js';
import { defineCommand } from './command.js';
import { untilAborted, withClient } from './session.js';

/** `emit <endpoint> <pattern> [json]`: one event. */
export const emitCommand = defineCommand({
  summary: 'send an event (fire-and-forget) to the servers that handle it',
  usage: `Usage: nestjs-zeromq emit <endpoint> <pattern> [<json>] [options]

Sends the event <pattern> with the payload <json> (default {}) to the server at
<endpoint> and prints its id. A server that does not handle the event is the
error NO_PEER (exit 1): its handshake lists the events it handles. Events are
fire-and-forget: the server does not answer, so this says the event was sent,
not handled.

  nestjs-zeromq emit tcp://127.0.0.1:4002 notifications.send '{"to":"ann","text":"hi"}'`,
  async run(parsed, io) {
    const [endpoint, rawPattern, rawPayload] = expectPositionals(parsed, 2, 3);
    const pattern = patternOf(rawPattern!);
    const payload = payloadOf(rawPayload);
    return withClient([endpoint!], parsed, io, async client => {
      const ids = await untilAborted(lastValueFrom(client.emitAll(pattern, payload)), io.signal);
      io.out(parsed.json ? JSON.stringify({ sentTo: ids }) + '\n' : `sent to ${ids.join(', ')}\n`);
      return EXIT_OK;
    });
  },
});
