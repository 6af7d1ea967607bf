import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern } from '@nestjs/microservices';
import { ServerZmq } from '/work/main/lib/index';

function spin(us: number) { const end = process.hrtime.bigint() + BigInt(us * 1000); while (process.hrtime.bigint() < end); }
@Controller()
class C { @MessagePattern('work', { idempotent: true }) work(n: number) { spin(200); return n; } }
@Module({ controllers: [C] })
class M {}
async function main() {
  const server = new ServerZmq({ bind: process.env.BIND ?? 'tcp://127.0.0.1:5900', ...(process.env.NOADM ? { admission: false } : {}) });
  const app = await NestFactory.createMicroservice(M, { strategy: server, logger: false });
  await app.listen();
  console.log('READY');
  process.on('SIGTERM', async () => { console.log(JSON.stringify(server.getStats().admission)); await app.close(); process.exit(0); });
}
void main();
