import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ClientsModule } from '@nestjs/microservices';
import { TerminusModule } from '@nestjs/terminus';
import { ZmqHealthIndicator } from 'nestjs-zeromq/terminus';
import { ClientZmq } from 'nestjs-zeromq';
import { config, MATH_SERVICE, NOTIFICATIONS_SERVICE } from '../../shared/src';
import { GatewayController } from './gateway.controller';
import { MetricsController } from './metrics.controller';
import { HealthController } from './health.controller';
import { PeerLog } from './peer-log.service';
import { ZmqExceptionFilter } from './zmq-exception.filter';

const liveness = { heartbeatInterval: config.heartbeatInterval, heartbeatLiveness: config.heartbeatLiveness };

@Module({
  imports: [
    TerminusModule,
    ClientsModule.register([
      {
        name: MATH_SERVICE,
        customClass: ClientZmq,
        options: { connect: config.mathEndpoint, requestTimeout: 5_000, metadata: { app: 'gateway' }, ...liveness },
      },
      {
        name: NOTIFICATIONS_SERVICE,
        customClass: ClientZmq,
        options: {
          connect: config.notificationsEndpoint,
          requestTimeout: 5_000,
          metadata: { app: 'gateway' },
          ...liveness,
        },
      },
    ]),
  ],
  controllers: [GatewayController, HealthController, MetricsController],
  providers: [PeerLog, ZmqHealthIndicator, { provide: APP_FILTER, useClass: ZmqExceptionFilter }],
})
export class GatewayModule {}
