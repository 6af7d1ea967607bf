import { EXIT_OK, EXIT_USAGE, type CliIo } from './args.js';
import { callCommand } from './call.js';
import type { CliCommand } from './command.js';
import { conformanceCommand } from './conformance.js';
import { emitCommand } from './emit.js';
import { keygenMain } from './keygen.js';
import { peersCommand } from './peers.js';
import { pingCommand } from './ping.js';
import { streamCommand } from './stream.js';
import { topCommand } from './top.js';

export type { CliIo } from './args.js';
export type { CliCommand } from './command.js';

/**
 * The command table of `nestjs-zeromq <command>`. A command is one entry; one
 * written as `(argv, write) => exitCode` fits with {@link plainCommand}.
 */
export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  ping: pingCommand,
  peers: peersCommand,
  call: callCommand,
  stream: streamCommand,
  emit: emitCommand,
  top: topCommand,
  conformance: conformanceCommand,
  keygen: plainCommand('print a new CURVE key pair (JSON, or env-file lines with --env)', keygenMain),
};

/** A table entry for a command that only writes to stdout and handles its own `--help`. */
export function plainCommand(
  summary: string,
  main: (argv: string[], write: (text: string) => void) => number,
): CliCommand {
  return { summary, run: (argv, io) => main(argv, text => io.out(text)) };
}

export function globalHelp(commands: Readonly<Record<string, CliCommand>> = COMMANDS): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map(n => n.length));
  return `Usage: nestjs-zeromq <command> [arguments] [options]

Talks to nestjs-zeromq services from a terminal or a script.

Commands:
${names.map(n => `  ${n.padEnd(width)}  ${commands[n]!.summary}`).join('\n')}

Every command takes --timeout <ms>, --json and --help (anywhere on the line).
Run "nestjs-zeromq <command> --help" for its arguments and examples.
`;
}

/** Runs `nestjs-zeromq ...argv`; resolves with the exit code. */
export async function runCli(
  argv: string[],
  io: CliIo,
  commands: Readonly<Record<string, CliCommand>> = COMMANDS,
): Promise<number> {
  const [name, rest] = splitCommand(argv);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic !== undefined && Object.hasOwn(commands, topic)) return commands[topic]!.run(['--help'], io);
    io.out(globalHelp(commands));
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (!Object.hasOwn(commands, name)) {
    io.err(`unknown command "${name}"\n\n${globalHelp(commands)}`);
    return EXIT_USAGE;
  }
  return commands[name]!.run(rest, io);
}

/**
 * The command's name (the first argument that is neither an option nor the
 * value of `--timeout`) and every other argument, in order: so the common
 * options may come before the command too.
 */
export function splitCommand(argv: string[]): [string | undefined, string[]] {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (arg === '--timeout') {
      i++;
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') continue;
    return [arg, [...argv.slice(0, i), ...argv.slice(i + 1)]];
  }
  const helpOnly = argv.some(a => a === '--help' || a === '-h');
  return [helpOnly ? '--help' : undefined, []];
}
