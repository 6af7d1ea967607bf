import { Module } from '@nestjs/common';
import { ZmqPeerEvents } from 'nestjs-zeromq';
import { CallerLog } from '../../shared/src';
import { NotificationsController } from './notifications.controller';

@Module({ controllers: [NotificationsController], providers: [ZmqPeerEvents, CallerLog] })
export class NotificationsModule {}
