'use strict';
/**
 * What both consumer apps (esm-app.mjs, cjs-app.cjs) check, in plain
 * JavaScript with the decorators applied by hand. Each app loads Nest, rxjs and
 * nestjs-zeromq its own way (import / require) and passes the modules in, so
 * this file never loads them itself.
 *
 * Resolves once the server and the client are closed; the app must then exit
 * on its own (the runner fails it if it does not).
 */
const assert = require('node:assert/strict');

const STEP_LIMIT_MS = 5000;

function within(label, promise) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: nothing within ${STEP_LIMIT_MS} ms`)), STEP_LIMIT_MS);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

function signal() {
  let fire;
  const fired = new Promise(resolve => (fire = resolve));
  return { fire, fired };
}

module.exports = async function scenario({ common, core, microservices, rxjs, lib }) {
  const { ServerZmq, ClientZmq, ZmqContext, ZmqError, ZMQ_TRANSPORT, defaults } = lib;
  for (const [name, value] of Object.entries({ ServerZmq, ClientZmq, ZmqContext, ZmqError })) {
    assert.equal(typeof value, 'function', `export ${name} is ${typeof value}, expected a class`);
  }
  assert.equal(typeof ZMQ_TRANSPORT, 'symbol', 'export ZMQ_TRANSPORT is not a symbol');
  assert.equal(typeof defaults, 'object', 'export defaults is not an object');

  const { Controller, Module } = common;
  const { NestFactory } = core;
  const { Ctx, EventPattern, MessagePattern, Payload } = microservices;
  const { Observable, firstValueFrom, interval, lastValueFrom, take, toArray } = rxjs;

  const tornDown = signal();
  const audited = signal();

  class MathController {
    sum(numbers) {
      return numbers.reduce((a, b) => a + b, 0);
    }
    count(n) {
      return interval(10).pipe(take(n));
    }
    ticks() {
      return new Observable(subscriber => {
        let i = 0;
        const timer = setInterval(() => subscriber.next(i++), 10);
        return () => {
          clearInterval(timer);
          tornDown.fire();
        };
      });
    }
    audit(entry, ctx) {
      audited.fire({ entry, ctx });
    }
  }
  const proto = MathController.prototype;
  const method = name => Object.getOwnPropertyDescriptor(proto, name);
  Reflect.decorate([MessagePattern('sum')], proto, 'sum', method('sum'));
  Reflect.decorate([MessagePattern('count')], proto, 'count', method('count'));
  Reflect.decorate([MessagePattern('ticks')], proto, 'ticks', method('ticks'));
  Reflect.decorate([EventPattern('audit')], proto, 'audit', method('audit'));
  Payload()(proto, 'sum', 0);
  Payload()(proto, 'audit', 0);
  Ctx()(proto, 'audit', 1);
  Controller()(MathController);

  class MathModule {}
  Module({ controllers: [MathController] })(MathModule);

  const server = new ServerZmq({ bind: 'tcp://127.0.0.1:*' });
  const app = await NestFactory.createMicroservice(MathModule, { strategy: server, logger: ['error', 'warn'] });
  await app.listen();
  const [endpoint] = server.endpoints;
  assert.match(endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/, `server.endpoints[0] is ${endpoint}`);

  const client = new ClientZmq({ connect: endpoint });
  try {
    await within('connect', client.connect());

    assert.equal(await within('sum', firstValueFrom(client.send('sum', [1, 2, 3]))), 6);

    const values = [];
    await within(
      'count stream',
      new Promise((resolve, reject) =>
        client.send('count', 5).subscribe({ next: v => values.push(v), error: reject, complete: resolve }),
      ),
    );
    assert.deepEqual(values, [0, 1, 2, 3, 4]);

    // take(2) unsubscribes after the second value: the server must unsubscribe the handler's Observable.
    const firstTwo = await within('ticks stream', lastValueFrom(client.send('ticks', {}).pipe(take(2), toArray())));
    assert.deepEqual(firstTwo, [0, 1]);
    await within('server-side teardown of the cancelled stream', tornDown.fired);

    await within('emit', lastValueFrom(client.emit('audit', { user: 'ann' }), { defaultValue: undefined }));
    const { entry, ctx } = await within('audit event handler', audited.fired);
    assert.deepEqual(entry, { user: 'ann' });
    assert.ok(ctx instanceof ZmqContext, '@Ctx() is not a ZmqContext');
    assert.equal(ctx.getPattern(), 'audit');
  } finally {
    await client.close();
    await app.close();
  }
  return 'exports, sum = 6, 5-value stream + completion, cancelled stream torn down on the server, event with ZmqContext';
};
