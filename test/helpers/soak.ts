/**
 * `SOAK=1` runs the soak sizes of the memory-bound, flow and terminal tests
 * (minutes); without it, CI runs their short form (seconds).
 */
export const SOAK = process.env.SOAK === '1';

/** `it` under SOAK=1, `it.skip` otherwise: a scenario only the soak run covers. */
export const soakIt: jest.It = SOAK ? it : it.skip;
