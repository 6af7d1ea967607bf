import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { announceReady, config, exitOnFailure, LOG_LEVELS } from '../../shared/src';
import { GatewayModule } from './gateway.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(GatewayModule, { logger: LOG_LEVELS });
  // Every DTO is checked: unknown fields and wrong types get a 400 that lists what is wrong.
  app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }));
  app.enableShutdownHooks();
  await app.listen(config.httpPort, config.httpHost);
  announceReady('gateway', (await app.getUrl()).replace('[::1]', 'localhost'));
}

bootstrap().catch(exitOnFailure('gateway'));
