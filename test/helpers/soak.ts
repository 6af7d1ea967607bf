/**
 * `SOAK=1` runs the soak sizes of the memory-bound, flow and terminal tests
 * (minutes); without it, CI runs their short form (seconds).
 */
export const SOAK = process.env.SOAK === '1';
