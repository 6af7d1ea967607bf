import 'reflect-metadata';
import { Logger, LogLevel, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { ServerZmq } from 'nestjs-zeromq';
import { announceReady, config, curvePairOf, curvePublicKeyOf, SampleApp } from './config';

/** What the sample apps log: everything but Nest's debug and verbose messages. */
export const LOG_LEVELS: LogLevel[] = ['log', 'warn', 'error', 'fatal'];

/**
 * Starts `module` as a Nest microservice on a ZeroMQ ROUTER bound to
 * `endpoint`, with the sample's heartbeat settings, and prints its READY line.
 * SIGINT / SIGTERM close it: its callers are told DRAIN, its calls in
 * progress finish (up to `drainTimeout`), then they are told BYE.
 */
export async function serve(name: SampleApp, module: Type<unknown>, endpoint: string): Promise<void> {
  // CURVE when this service has a key pair: encrypted, and only the gateway's key may call.
  const curve = curvePairOf(name);
  const security = curve === undefined ? {} : { curve, allow: [curvePublicKeyOf('gateway')] };
  const server = new ServerZmq({
    ...security,
    bind: endpoint,
    id: name,
    metadata: { service: name },
    heartbeatInterval: config.heartbeatInterval,
    heartbeatLiveness: config.heartbeatLiveness,
    drainTimeout: config.drainTimeout,
    // `npx nestjs-zeromq top` reads $zmq/metrics; on a CURVE service only its allowed keys reach it (docs/security.md).
    introspection: true,
  });
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(module, {
    strategy: server,
    logger: LOG_LEVELS,
  });
  app.enableShutdownHooks();
  await app.listen();
  new Logger('Security').log(
    curve === undefined ? 'CURVE off: plaintext' : `CURVE on: key ${curve.publicKey}; allowed: the gateway`,
  );
  announceReady(name, server.endpoints.join(' '));
}

/** Ends the process with a message when an app fails to start (e.g. BIND_FAILED: the port is taken). */
export function exitOnFailure(name: string): (err: unknown) => never {
  return err => {
    process.stderr.write(
      `${name} failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  };
}
