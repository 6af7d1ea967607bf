import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ClientProxy } from '@nestjs/microservices';
import { ClientZmq } from 'nestjs-zeromq';
import { registerZmqMetrics } from 'nestjs-zeromq/prometheus';
import { Registry } from 'prom-client';
import { MATH_SERVICE, NOTIFICATIONS_SERVICE } from '../../shared/src';

/** `GET /metrics`: the gateway's two ZeroMQ clients in Prometheus text format. */
@Controller()
export class MetricsController {
  private readonly register = new Registry();

  constructor(@Inject(MATH_SERVICE) math: ClientProxy, @Inject(NOTIFICATIONS_SERVICE) notifications: ClientProxy) {
    registerZmqMetrics({ register: this.register, sources: [math as ClientZmq, notifications as ClientZmq] });
  }

  @Get('metrics')
  @Header('Content-Type', Registry.PROMETHEUS_CONTENT_TYPE)
  metrics(): Promise<string> {
    return this.register.metrics();
  }
}
