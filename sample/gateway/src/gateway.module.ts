import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ClientsModule } from '@nestjs/microservices';
import { ClientZmq } from 'nestjs-zeromq';
import { config, MATH_SERVICE, NOTIFICATIONS_SERVICE } from '../../shared/src';
import { GatewayController } from './gateway.controller';
import { PeerLog } from './peer-log.service';
import { ZmqExceptionFilter } from './zmq-exception.filter';

const liveness = {
  heartbeatInterval: config.heartbeatInterval,
  heartbeatLiveness: config.heartbeatLiveness,
  resolveInterval: config.resolveInterval,
};

@Module({
  imports: [
    ClientsModule.register([
      {
        name: MATH_SERVICE,
        customClass: ClientZmq,
        options: { connect: config.mathConnect, requestTimeout: 5_000, metadata: { app: 'gateway' }, ...liveness },
      },
      {
        name: NOTIFICATIONS_SERVICE,
        customClass: ClientZmq,
        options: {
          connect: config.notificationsConnect,
          requestTimeout: 5_000,
          metadata: { app: 'gateway' },
          ...liveness,
        },
      },
    ]),
  ],
  controllers: [GatewayController],
  providers: [PeerLog, { provide: APP_FILTER, useClass: ZmqExceptionFilter }],
})
export class GatewayModule {}
