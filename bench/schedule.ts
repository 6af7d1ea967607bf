/**
 * The order of a round's measurements (pure): every timed workload is cut
 * into blocks, and the contenders take turns block by block, in an order
 * that rotates with every block, so that whatever else loads the machine
 * falls on every contender alike instead of on whichever ran at a bad moment.
 */
import type { Contender, Plan } from './common';

/** A timed workload of the main phase (see bench/client.ts). */
export type StepKind = 'seq' | 'seqLarge' | 'seqHuge' | 'rps' | 'rpsLarge' | 'rpsObj';

/** One block of a workload: `count` calls, the `block`-th of its kind. */
export interface Step {
  kind: StepKind;
  block: number;
  count: number;
}

/** Which plan number gives each workload's total. */
const TOTALS: ReadonlyArray<[StepKind, keyof Plan]> = [
  ['seq', 'sequential'],
  ['seqLarge', 'sequentialLarge'],
  ['seqHuge', 'sequentialHuge'],
  ['rps', 'throughput'],
  ['rpsLarge', 'throughputLarge'],
  ['rpsObj', 'throughputObject'],
];

/** `total` cut into `blocks` parts as equal as can be (the first ones one larger), no empty part. */
export function split(total: number, blocks: number): number[] {
  const n = Math.max(1, Math.min(blocks, total));
  const base = Math.floor(total / n);
  return Array.from({ length: total === 0 ? 0 : n }, (_, i) => base + (i < total % n ? 1 : 0));
}

/** The steps of a round, workload after workload, each cut into `plan.blocks` blocks. */
export function stepsOf(plan: Plan): Step[] {
  const steps: Step[] = [];
  for (const [kind, field] of TOTALS) {
    split(plan[field], plan.blocks).forEach((count, block) => steps.push({ kind, block, count }));
  }
  return steps;
}

/** The contenders' turn for the `index`-th step: the list rotated by `index + shift`. */
export function turnOrder<T>(contenders: readonly T[], index: number, shift = 0): T[] {
  const n = contenders.length;
  return contenders.map((_, i) => contenders[(i + index + shift) % n]!);
}

/** Every step with the contenders' order for it; `round` shifts the rotation so rounds start differently. */
export function interleave(
  contenders: readonly Contender[],
  plan: Plan,
  round: number,
): Array<{ step: Step; order: Contender[] }> {
  return stepsOf(plan).map((step, i) => ({ step, order: turnOrder(contenders, i, round) }));
}
