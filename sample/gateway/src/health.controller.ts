import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { ClientZmq } from 'nestjs-zeromq';
import { ZmqHealthIndicator } from 'nestjs-zeromq/terminus';
import { MATH_SERVICE, MathPatterns, NOTIFICATIONS_SERVICE, NotificationPatterns } from '../../shared/src';

/**
 * GET /health: both services connected, serving what the gateway calls, and
 * answering a PING (on the clients' existing sessions). 200 when all is up,
 * 503 naming what is missing otherwise.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly zmq: ZmqHealthIndicator,
    @Inject(MATH_SERVICE) private readonly math: ClientZmq,
    @Inject(NOTIFICATIONS_SERVICE) private readonly notifications: ClientZmq,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.zmq.isHealthy('math', this.math, { patterns: [MathPatterns.sum, MathPatterns.count], timeout: 1_000 }),
      () =>
        this.zmq.isHealthy('notifications', this.notifications, {
          patterns: [NotificationPatterns.send, NotificationPatterns.recent],
          timeout: 1_000,
        }),
    ]);
  }
}
