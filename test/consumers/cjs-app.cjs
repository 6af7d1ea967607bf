'use strict';
// CommonJS consumer: runs as main.cjs. With Nest 12 the require() calls load
// Nest's ESM packages through Node's require(esm) (Node >= 20.19).
require('reflect-metadata');
const common = require('@nestjs/common');
const core = require('@nestjs/core');
const microservices = require('@nestjs/microservices');
const rxjs = require('rxjs');
const lib = require('nestjs-zeromq');
const scenario = require('./scenario.cjs');

scenario({ common, core, microservices, rxjs, lib }).then(
  done => console.log(`PASS cjs: ${done}`),
  err => {
    console.error('FAIL cjs:', err);
    process.exitCode = 1;
  },
);
