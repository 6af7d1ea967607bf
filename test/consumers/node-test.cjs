'use strict';
// `node --test` in a CommonJS app: the `require` condition must load the CJS build.
require('reflect-metadata');
const assert = require('node:assert/strict');
const { test } = require('node:test');
const common = require('@nestjs/common');
const core = require('@nestjs/core');
const microservices = require('@nestjs/microservices');
const rxjs = require('rxjs');
const lib = require('nestjs-zeromq');
const scenario = require('./scenario.cjs');

test('the CJS build serves a Nest app', async () => {
  assert.match(require.resolve('nestjs-zeromq'), /[/\\]dist[/\\]cjs[/\\]index\.js$/);
  await scenario({ common, core, microservices, rxjs, lib });
});
