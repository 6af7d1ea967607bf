/**
 * The CLI with CURVE: `keygen` makes the pairs, and `call` talks to a CURVE
 * server with `--server-key` / `--public-key` / `--secret-key` (the server
 * runs in this process, the CLI in a child).
 */
import 'reflect-metadata';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Harness } from '../helpers/nest';
import { runTsChild } from '../helpers/child';

const BIN = 'lib/cli/bin.ts';
const h = new Harness();
afterAll(() => h.closeAll());

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() data: unknown): unknown {
    return data;
  }
}

async function keygen(): Promise<{ publicKey: string; secretKey: string }> {
  const r = await runTsChild(BIN, ['keygen', '--json']);
  expect(r.code).toBe(0);
  const pair = JSON.parse(r.stdout) as { publicKey: string; secretKey: string };
  expect(pair.publicKey).toHaveLength(40);
  expect(pair.secretKey).toHaveLength(40);
  return pair;
}

it('keygen pairs; call with the client pair reaches an allow-listed CURVE server; an unlisted pair gets AUTH_FAILED', async () => {
  const [server, client, stranger] = [await keygen(), await keygen(), await keygen()];
  const { endpoint } = await h.startServer({
    bind: 'tcp://127.0.0.1:*',
    controllers: [EchoController],
    options: { curve: server, allow: [client.publicKey] },
  });
  const keys = (pair: { publicKey: string; secretKey: string }) => [
    '--server-key',
    server.publicKey,
    '--public-key',
    pair.publicKey,
    '--secret-key',
    pair.secretKey,
  ];
  const ok = await runTsChild(BIN, ['call', endpoint, 'echo', '{"n":1}', ...keys(client)]);
  expect(ok.code).toBe(0);
  expect(JSON.parse(ok.stdout)).toEqual({ n: 1 });
  const refused = await runTsChild(BIN, ['call', endpoint, 'echo', '1', ...keys(stranger), '--timeout', '3000']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/AUTH_FAILED/);
}, 90_000);
