// `node --test` in an ESM app: the `import` condition must load the ESM build,
// and a CommonJS require() of the package in the same process (the CJS build)
// must share what is one per process: ZMQ_TRANSPORT and the ZmqPeerEvents stream.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import * as common from '@nestjs/common';
import * as core from '@nestjs/core';
import * as microservices from '@nestjs/microservices';
import * as rxjs from 'rxjs';
import * as lib from 'nestjs-zeromq';
import scenario from './scenario.cjs';

test('the ESM build serves a Nest app, and shares its singletons with the CJS build', async () => {
  assert.match(import.meta.resolve('nestjs-zeromq'), /\/dist\/esm\/index\.js$/);
  const cjs = createRequire(import.meta.url)('nestjs-zeromq');
  assert.notEqual(cjs.ClientZmq, lib.ClientZmq, 'require() should load the other build');
  assert.equal(cjs.ZMQ_TRANSPORT, lib.ZMQ_TRANSPORT);
  const seen = [];
  const sub = cjs.ZmqPeerEvents.changes$.subscribe(change => seen.push(`${change.role}:${change.type}`));
  try {
    await scenario({ common, core, microservices, rxjs, lib });
  } finally {
    sub.unsubscribe();
  }
  assert.ok(seen.includes('server:joined') && seen.includes('client:joined'), `CJS stream saw ${seen.join(', ')}`);
});
