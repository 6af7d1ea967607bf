import type { ParseArgsConfig } from 'node:util';
import { COMMON_HELP, EXIT_OK, EXIT_USAGE, parseCommand, UsageError, type CliIo, type Parsed } from './args.js';

/** One entry of the CLI's command table: `run` gets the arguments after the command's name. */
export interface CliCommand {
  /** One line for the command list of `nestjs-zeromq --help`. */
  summary: string;
  /** Runs the command; resolves with the exit code. */
  run(argv: string[], io: CliIo): number | Promise<number>;
}

/** A command with the common options: `--help` prints `usage`, a usage error prints it too (exit 2). */
export interface CommandSpec {
  summary: string;
  /** The help text: usage line(s), description, examples (the common options are appended). */
  usage: string;
  /** Options beyond the common ones. */
  options?: NonNullable<ParseArgsConfig['options']>;
  /** Help lines of `options`. */
  optionsHelp?: string;
  run(parsed: Parsed, io: CliIo): Promise<number>;
}

export function helpOf(spec: CommandSpec): string {
  return `${spec.usage.trimEnd()}\n\n${COMMON_HELP}${spec.optionsHelp !== undefined ? `\n${spec.optionsHelp}` : ''}\n`;
}

/** Turns a {@link CommandSpec} into a table entry. */
export function defineCommand(spec: CommandSpec): CliCommand {
  return {
    summary: spec.summary,
    async run(argv, io) {
      try {
        const parsed = parseCommand(argv, spec.options);
        if (parsed.help) {
          io.out(helpOf(spec));
          return EXIT_OK;
        }
        return await spec.run(parsed, io);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        io.err(`${err.message}\n\n${helpOf(spec)}`);
        return EXIT_USAGE;
      }
    },
  };
}
