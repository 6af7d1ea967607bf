/** The conformance kit (docs/PROTOCOL.md §13.1): judges a server or a client over the wire. */
import { runChecks, summaryOf, type Verdict } from './report.js';
export { failed } from './report.js';
import { CLOSE_CHECKS, resetCloseWatch, SERVER_CHECKS, type ServerKitOptions } from './server-checks.js';

export type { Verdict } from './report.js';
export type { ServerKitOptions } from './server-checks.js';

/** Runs every server check against `opts.endpoint`, writing one line per rule and the summary. */
export async function runServerConformance(opts: ServerKitOptions, write: (line: string) => void): Promise<Verdict[]> {
  resetCloseWatch();
  const verdicts = await runChecks([...SERVER_CHECKS, ...CLOSE_CHECKS], { ...opts, write }, write);
  write(summaryOf(verdicts));
  return verdicts;
}
export { KIT_PATTERNS, runClientConformance, type ClientKitOptions } from './client-checks.js';
