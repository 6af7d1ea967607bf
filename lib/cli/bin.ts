#!/usr/bin/env node
/**
 * The `nestjs-zeromq` executable (package.json `bin`): runs the CLI on this
 * process's arguments. The first Ctrl-C (SIGINT) or SIGTERM aborts the
 * running command, which cancels what it sent and closes its connection;
 * a second one exits at once.
 */
import { runCli } from './main.js';

const interrupt = new AbortController();
const onSignal = (): void => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

runCli(process.argv.slice(2), {
  out: text => void process.stdout.write(text),
  err: text => void process.stderr.write(text),
  signal: interrupt.signal,
  ...(process.stdout.isTTY && process.stdin.isTTY
    ? { terminal: { output: process.stdout, input: process.stdin } }
    : {}),
}).then(
  code => exit(code),
  (err: unknown) => {
    process.stderr.write(`nestjs-zeromq: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exit(1);
  },
);

/** Sets the exit code; if something still holds the event loop a moment later, exits anyway. */
function exit(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1_000).unref();
}
