/**
 * `conformance server`: the checks of a server's rules (docs/PROTOCOL.md),
 * each over connections of its own, with envelopes built byte by byte; by
 * area in handshake-checks.ts, proof-checks.ts, input-checks.ts,
 * call-checks.ts and close-checks.ts.
 */
import type { Check } from './report.js';
import { CALL_CHECKS } from './call-checks.js';
import { HANDSHAKE_CHECKS } from './handshake-checks.js';
import { INPUT_CHECKS } from './input-checks.js';
import { PROOF_CHECKS } from './proof-checks.js';
import type { ServerKitOptions } from './server-conn.js';

export { CLOSE_CHECKS, resetCloseWatch } from './close-checks.js';
export type { ServerKitOptions } from './server-conn.js';

/** Every server check but those of a close, in the order they run. */
export const SERVER_CHECKS: ReadonlyArray<Check<ServerKitOptions>> = [
  ...HANDSHAKE_CHECKS,
  ...PROOF_CHECKS,
  ...INPUT_CHECKS,
  ...CALL_CHECKS,
];
