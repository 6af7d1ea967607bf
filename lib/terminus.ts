/**
 * `nestjs-zeromq/terminus`: the `@nestjs/terminus` health indicator. A
 * separate entry point, so that `nestjs-zeromq` itself never loads terminus
 * (an optional peer dependency).
 */
export { ZmqHealthIndicator } from './health/zmq-health.indicator.js';
export type { ZmqHealthOptions, ZmqServerHealthOptions } from './health/zmq-health.indicator.js';
export type { ZmqHealthPeer } from './health/health-checks.js';
