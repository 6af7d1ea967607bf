/**
 * Unhandled rejections and uncaught exceptions.
 *
 * Inside Jest (30, ESM mode) nothing is needed: Jest itself fails the running
 * test on an unhandled rejection, and a `process.on('unhandledRejection')`
 * listener registered from a spec never sees one (checked when this suite was
 * written). Child-process fixtures are plain Node, where an unhandled rejection
 * kills the process with a stack on stderr; `guardProcess()` makes them
 * report it and exit non-zero in a recognizable way instead, without keeping
 * the process alive.
 */
export function guardProcess(label: string): void {
  const report = (kind: string) => (reason: unknown) => {
    process.stderr.write(`[${label}] ${kind}: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
    process.exitCode = 70;
  };
  process.on('unhandledRejection', report('unhandled rejection'));
  process.on('uncaughtException', report('uncaught exception'));
}
