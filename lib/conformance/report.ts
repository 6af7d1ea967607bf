/** The kit's verdicts: one line per rule, a summary, an exit code. */

export type Outcome = 'PASS' | 'FAIL' | 'SKIP';

export interface Verdict {
  id: string;
  title: string;
  outcome: Outcome;
  /** What was seen (FAIL) or why the check did not run (SKIP). */
  detail?: string;
}

/** Thrown by a check that cannot run here (a pattern it needs was not named). */
export class Skip extends Error {}

/** Thrown by a check whose rule was broken: the message says what the kit saw. */
export class Failure extends Error {}

/** Fails the running check with `detail` unless `ok`. */
export function expectThat(ok: boolean, detail: string): asserts ok {
  if (!ok) throw new Failure(detail);
}

/** A check of one rule. */
export interface Check<C> {
  id: string;
  title: string;
  run(ctx: C): void | Promise<void>;
}

/** Runs `checks` in order, one at a time, writing each verdict as it is known. */
export async function runChecks<C>(
  checks: ReadonlyArray<Check<C>>,
  ctx: C,
  write: (line: string) => void,
): Promise<Verdict[]> {
  const verdicts: Verdict[] = [];
  for (const check of checks) {
    let verdict: Verdict;
    try {
      await check.run(ctx);
      verdict = { id: check.id, title: check.title, outcome: 'PASS' };
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      verdict = { id: check.id, title: check.title, outcome: err instanceof Skip ? 'SKIP' : 'FAIL', detail };
    }
    verdicts.push(verdict);
    write(lineOf(verdict));
  }
  return verdicts;
}

export function lineOf(v: Verdict): string {
  return `${v.outcome} ${v.id} ${v.title}${v.detail !== undefined ? `: ${v.detail}` : ''}\n`;
}

/** `conformance: 30 passed, 1 failed, 4 skipped` */
export function summaryOf(verdicts: readonly Verdict[]): string {
  const count = (o: Outcome) => verdicts.filter(v => v.outcome === o).length;
  return `conformance: ${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped\n`;
}

export function failed(verdicts: readonly Verdict[]): boolean {
  return verdicts.some(v => v.outcome === 'FAIL');
}
