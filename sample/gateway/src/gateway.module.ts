import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ClientsModule } from '@nestjs/microservices';
import { TerminusModule } from '@nestjs/terminus';
import { ZmqHealthIndicator } from 'nestjs-zeromq/terminus';
import { ClientZmq } from 'nestjs-zeromq';
import {
  config,
  curvePairOf,
  curvePublicKeyOf,
  MATH_SERVICE,
  NOTIFICATIONS_SERVICE,
  SampleApp,
} from '../../shared/src';
import { GatewayController } from './gateway.controller';
import { MetricsController } from './metrics.controller';
import { HealthController } from './health.controller';
import { PeerLog } from './peer-log.service';
import { ZmqExceptionFilter } from './zmq-exception.filter';

const liveness = {
  heartbeatInterval: config.heartbeatInterval,
  heartbeatLiveness: config.heartbeatLiveness,
  resolveInterval: config.resolveInterval,
};

/** With a gateway key pair in the environment, each client connects with CURVE to its service's key. */
const gatewayPair = curvePairOf('gateway');
const curveTo = (service: SampleApp) =>
  gatewayPair === undefined ? {} : { curve: { serverKey: curvePublicKeyOf(service), ...gatewayPair } };

@Module({
  imports: [
    TerminusModule,
    ClientsModule.register([
      {
        name: MATH_SERVICE,
        customClass: ClientZmq,
        options: {
          connect: config.mathConnect,
          requestTimeout: 5_000,
          metadata: { app: 'gateway' },
          ...liveness,
          ...curveTo('math'),
        },
      },
      {
        name: NOTIFICATIONS_SERVICE,
        customClass: ClientZmq,
        options: {
          connect: config.notificationsConnect,
          requestTimeout: 5_000,
          metadata: { app: 'gateway' },
          ...liveness,
          ...curveTo('notifications'),
        },
      },
    ]),
  ],
  controllers: [GatewayController, HealthController, MetricsController],
  providers: [PeerLog, ZmqHealthIndicator, { provide: APP_FILTER, useClass: ZmqExceptionFilter }],
})
export class GatewayModule {}
