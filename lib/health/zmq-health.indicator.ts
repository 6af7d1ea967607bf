import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { ClientZmq } from '../client/client-zmq.js';
import { DEFAULT_PING_TIMEOUT } from '../defaults.js';
import type { ServerZmq } from '../server/server-zmq.js';
import { clientHealth, serverHealth } from './health-checks.js';

/** Options of {@link ZmqHealthIndicator.isHealthy}. */
export interface ZmqHealthOptions {
  /** Fewest servers that must have a session and answer the PING (default 1). */
  minPeers?: number;
  /** Message (or event) patterns some connected server must serve; object patterns as in `send()`. */
  patterns?: Array<string | Record<string, unknown>>;
  /** Milliseconds each server has to answer the PING (default 2000, `defaults.DEFAULT_PING_TIMEOUT`). */
  timeout?: number;
}

/** Options of {@link ZmqHealthIndicator.isServerHealthy}. */
export interface ZmqServerHealthOptions {
  /** Fewest clients that must have a session (default 0). */
  minPeers?: number;
}

/**
 * A `@nestjs/terminus` health indicator for this transport (import it from
 * `nestjs-zeromq/terminus`; `@nestjs/terminus` is an optional peer
 * dependency, never loaded by the main entry). It checks an existing client
 * on the sessions it has (no new connection, no handshake per probe), and a
 * server's socket.
 *
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(
 *     private readonly health: HealthCheckService,
 *     private readonly zmq: ZmqHealthIndicator,
 *     @Inject('MATH') private readonly math: ClientZmq,
 *   ) {}
 *
 *   @Get()
 *   @HealthCheck()
 *   check() {
 *     return this.health.check([() => this.zmq.isHealthy('math', this.math, { patterns: ['math.sum'] })]);
 *   }
 * }
 * ```
 *
 * Add `ZmqHealthIndicator` to the providers of a module that imports `TerminusModule`.
 */
@Injectable()
export class ZmqHealthIndicator {
  constructor(private readonly healthIndicatorService: HealthIndicatorService) {}

  /**
   * Up when at least `minPeers` servers have a session, every pattern in
   * `patterns` is served by one of them, and each answered a PING within
   * `timeout`. The result lists `peers: [{ peerId, endpoint, rttMs }]`; when
   * down it also names what is missing: `down` (endpoints with no session),
   * `unserved` (patterns no connected server serves), `unanswered` (servers
   * with no PONG, and why), and a `message`.
   */
  async isHealthy<const Key extends string>(
    key: Key,
    client: ClientZmq,
    options: ZmqHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const pings = await client.ping(options.timeout ?? DEFAULT_PING_TIMEOUT);
    const report = clientHealth(client, pings, options);
    const session = this.healthIndicatorService.check(key);
    return report.ok ? session.up(report.data) : session.down(report.data);
  }

  /**
   * Up when the server is bound and accepting clients (`listen()` done,
   * not closing) and has at least `minPeers` clients. The result lists the
   * bound `endpoints`, the `state`, `peers: [{ peerId, pending }]`, `inFlight`
   * and `queued`; when down, a `message` says why.
   */
  isServerHealthy<const Key extends string>(
    key: Key,
    server: ServerZmq,
    options: ZmqServerHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const report = serverHealth(server, options);
    const session = this.healthIndicatorService.check(key);
    return Promise.resolve(report.ok ? session.up(report.data) : session.down(report.data));
  }
}
