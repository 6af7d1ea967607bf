// ESM consumer: runs as main.js in a "type": "module" app. The named imports
// from 'nestjs-zeromq' (a CommonJS build) fail at link time unless Node's
// CommonJS named-export detection finds them.
import 'reflect-metadata';
import * as common from '@nestjs/common';
import * as core from '@nestjs/core';
import * as microservices from '@nestjs/microservices';
import * as rxjs from 'rxjs';
import { ClientZmq, ServerZmq, ZMQ_TRANSPORT, ZmqContext, ZmqError, defaults } from 'nestjs-zeromq';
import scenario from './scenario.cjs';

const lib = { ClientZmq, ServerZmq, ZMQ_TRANSPORT, ZmqContext, ZmqError, defaults };
scenario({ common, core, microservices, rxjs, lib }).then(
  done => console.log(`PASS esm: ${done}`),
  err => {
    console.error('FAIL esm:', err);
    process.exitCode = 1;
  },
);
