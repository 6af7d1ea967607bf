/**
 * Settings of the sample apps, read from the environment so that `npm run sample`
 * and the e2e test (free ports) start the same code. Defaults: HTTP on 3000,
 * math on tcp://127.0.0.1:4001, notifications on tcp://127.0.0.1:4002.
 */
function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** The apps that hold a CURVE key pair: the env prefix of each. */
export type SampleApp = 'math' | 'notifications' | 'gateway';

/** `<APP>_CURVE_PUBLIC_KEY` (and, for this app's own pair, `<APP>_CURVE_SECRET_KEY`). */
function curveKey(app: SampleApp, kind: 'PUBLIC' | 'SECRET'): string | undefined {
  return process.env[`${app.toUpperCase()}_CURVE_${kind}_KEY`] || undefined;
}

/**
 * This app's CURVE key pair from the environment, or `undefined` when none
 * is set (then it runs in plaintext). `npm run sample` makes a pair per app
 * when the environment has none.
 */
export function curvePairOf(app: SampleApp): { publicKey: string; secretKey: string } | undefined {
  const publicKey = curveKey(app, 'PUBLIC');
  const secretKey = curveKey(app, 'SECRET');
  if (publicKey === undefined && secretKey === undefined) return undefined;
  if (publicKey === undefined || secretKey === undefined) {
    throw new Error(
      `set both ${app.toUpperCase()}_CURVE_PUBLIC_KEY and ${app.toUpperCase()}_CURVE_SECRET_KEY, or neither`,
    );
  }
  return { publicKey, secretKey };
}

/** Another app's CURVE public key; required once this app uses CURVE. */
export function curvePublicKeyOf(app: SampleApp): string {
  const key = curveKey(app, 'PUBLIC');
  if (key === undefined) throw new Error(`CURVE is on: set ${app.toUpperCase()}_CURVE_PUBLIC_KEY`);
  return key;
}

export const config = {
  /**
   * The address the gateway's HTTP server listens on: loopback on a laptop;
   * `0.0.0.0` in a container (the image sets it), where probes and the
   * Service reach the pod's own IP, never its loopback.
   */
  httpHost: process.env.HTTP_HOST || '127.0.0.1',
  /** HTTP port of the gateway (`0`: any free port; the READY line shows it). */
  httpPort: intFromEnv('HTTP_PORT', 3000),
  /** Where the math service binds and the gateway connects (`tcp://127.0.0.1:*` picks a free port). */
  mathEndpoint: process.env.MATH_ENDPOINT || 'tcp://127.0.0.1:4001',
  notificationsEndpoint: process.env.NOTIFICATIONS_ENDPOINT || 'tcp://127.0.0.1:4002',
  /**
   * Where the gateway connects: the bound endpoint unless set. A name
   * (`tcp://math:4001`, a Kubernetes headless Service) resolves to every
   * instance, one connection each (sample/deploy/, docs/deployment.md).
   */
  mathConnect: process.env.MATH_CONNECT || process.env.MATH_ENDPOINT || 'tcp://127.0.0.1:4001',
  notificationsConnect:
    process.env.NOTIFICATIONS_CONNECT || process.env.NOTIFICATIONS_ENDPOINT || 'tcp://127.0.0.1:4002',
  /** How often the gateway resolves those names again (ms). */
  resolveInterval: intFromEnv('ZMQ_RESOLVE_INTERVAL', 5_000),
  /** How long a closing service lets its calls in progress finish after DRAIN (ms). */
  drainTimeout: intFromEnv('ZMQ_DRAIN_TIMEOUT', 10_000),
  /**
   * Small heartbeats, so that a killed service is noticed within
   * interval × (liveness + 1) = 1 s instead of the library's default 4 s.
   */
  heartbeatInterval: intFromEnv('ZMQ_HEARTBEAT_INTERVAL', 250),
  heartbeatLiveness: intFromEnv('ZMQ_HEARTBEAT_LIVENESS', 3),
  /** Milliseconds between two values of the math service's `count` stream. */
  countTickMs: intFromEnv('COUNT_TICK_MS', 200),
};

/** The line `npm run sample` and the e2e test wait for: `READY <app> <address>`. */
export function announceReady(app: string, address: string): void {
  process.stdout.write(`READY ${app} ${address}\n`);
}
