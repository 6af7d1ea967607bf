import { generateCurveKeyPair } from '../security/keys.js';
import { failed, runClientConformance, runServerConformance } from '../conformance/index.js';
import { EXIT_FAILED, EXIT_OK, expectPositionals, UsageError, type CliIo, type Parsed } from './args.js';
import { defineCommand } from './command.js';

const DEFAULT_TIMEOUT_MS = 2_000;
const DEFAULT_CLIENT_WAIT_MS = 30_000;

/** `conformance server <endpoint>` / `conformance client`: the conformance kit (docs/PROTOCOL.md §13.1). */
export const conformanceCommand = defineCommand({
  summary: 'check a server or a client against the wire protocol, rule by rule',
  usage: `Usage: nestjs-zeromq conformance server <endpoint> [--echo <pattern>] [--stream <pattern>] [options]
       nestjs-zeromq conformance client [--bind <endpoint>] [--wait <ms>] [options]

server: speaks the protocol over its own DEALER to the server at <endpoint>
(any implementation) and checks every server rule of docs/PROTOCOL.md it can
provoke. --echo names a pattern whose handler returns its data, --stream one
whose handler, given n, streams n values; checks that need them are skipped
without them.

client: binds a checking server (tcp://127.0.0.1:* by default), prints
"LISTENING <endpoint>", and judges the first client that connects within
--wait ms: its HELLO, PING, DRAIN and BYE answers, and what it does with the
patterns conformance/echo (returns the data), conformance/stream (n values)
and conformance/hang (never answers: give that call a timeout).

One line per rule (PASS / FAIL / SKIP), then a summary. Exits 1 when a check
failed. Every wait is bounded by --timeout (default ${DEFAULT_TIMEOUT_MS} ms).

  nestjs-zeromq conformance server tcp://127.0.0.1:4001 --echo echo --stream count
  nestjs-zeromq conformance client --bind tcp://127.0.0.1:4100`,
  options: {
    echo: { type: 'string' },
    stream: { type: 'string' },
    'await-close': { type: 'string' },
    bind: { type: 'string' },
    wait: { type: 'string' },
  },
  optionsHelp: `  --echo <pattern>    (server) a pattern that returns its data
  --stream <pattern>  (server) a pattern that streams n values for n
  --await-close <ms>  (server) at the end, print AWAITING CLOSE and check the DRAIN and BYE
                      the server sends when it is closed within <ms>
  --bind <endpoint>   (client) where the checking server binds
  --wait <ms>         (client) how long the client has to connect and call (default ${DEFAULT_CLIENT_WAIT_MS})`,
  async run(parsed, io) {
    const [side, endpoint] = expectPositionals(parsed, 1, 2);
    if (side === 'server') return serverSide(parsed, io, endpoint);
    if (side === 'client') {
      if (endpoint !== undefined) throw new UsageError(`unexpected argument "${endpoint}"`);
      return clientSide(parsed, io);
    }
    throw new UsageError(`conformance takes "server" or "client", not "${side}"`);
  },
});

const stringOf = (parsed: Parsed, name: string): string | undefined =>
  typeof parsed.values[name] === 'string' ? (parsed.values[name] as string) : undefined;

async function serverSide(parsed: Parsed, io: CliIo, endpoint: string | undefined): Promise<number> {
  if (endpoint === undefined) throw new UsageError('conformance server needs the <endpoint> of the server');
  const str = (name: string) => stringOf(parsed, name);
  const serverKey = str('server-key') ?? process.env.NESTJS_ZEROMQ_SERVER_KEY;
  const publicKey = str('public-key');
  const secretKey = str('secret-key');
  const pair = publicKey !== undefined && secretKey !== undefined ? { publicKey, secretKey } : generateCurveKeyPair();
  const verdicts = await runServerConformance(
    {
      endpoint,
      echo: str('echo'),
      stream: str('stream'),
      awaitCloseMs: msOf(str('await-close'), '--await-close'),
      timeoutMs: parsed.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(serverKey !== undefined ? { curve: { serverKey, ...pair } } : {}),
    },
    line => io.out(line),
  );
  return failed(verdicts) ? EXIT_FAILED : EXIT_OK;
}

async function clientSide(parsed: Parsed, io: CliIo): Promise<number> {
  const waitMs = msOf(stringOf(parsed, 'wait'), '--wait') ?? DEFAULT_CLIENT_WAIT_MS;
  const verdicts = await runClientConformance(
    {
      bind: stringOf(parsed, 'bind') ?? 'tcp://127.0.0.1:*',
      timeoutMs: parsed.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      waitMs,
    },
    line => io.out(line),
  );
  return failed(verdicts) ? EXIT_FAILED : EXIT_OK;
}

function msOf(raw: string | undefined, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`${option} must be a positive number of milliseconds`);
  return ms;
}
