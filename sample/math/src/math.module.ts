import { Module } from '@nestjs/common';
import { ZmqPeerEvents } from 'nestjs-zeromq';
import { CallerLog } from '../../shared/src';
import { MathController } from './math.controller';

@Module({ controllers: [MathController], providers: [ZmqPeerEvents, CallerLog] })
export class MathModule {}
