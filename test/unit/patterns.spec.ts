/**
 * Patterns on the wire (docs/PROTOCOL.md §3.0): the route strings of the
 * spec's table are what the client puts in the header and what the server
 * lists in its WELCOME, under the Nest version installed (CI runs 11 and 12).
 */
import 'reflect-metadata';
import { ReadPacket } from '@nestjs/microservices';
import { ClientZmq, ServerZmq } from 'nestjs-zeromq';

// The table of §3.0, verbatim: pattern (as JSON), route string.
const VECTORS: Array<[string, string]> = [
  ['"sum"', 'sum'],
  ['42', '42'],
  ['{"cmd":"count"}', '{"cmd":"count"}'],
  ['{"role":"math","cmd":"sum"}', '{"cmd":"sum","role":"math"}'],
  ['{"cmd":"x","v":2,"ok":true,"n":null}', '{"cmd":"x","n":null,"ok":true,"v":2}'],
  ['{"b":{"y":1,"x":"a"},"a":1}', '{"a":1,"b":{"x":"a","y":1}}'],
  ['{"q\\"k":"a\\\\b"}', '{"q\\"k":"a\\\\b"}'],
  ['{"1":5,"b":1,"B":2,"a":3,"_z":4}', '{"_z":4,"1":5,"a":3,"b":1,"B":2}'],
  ['{"list":[1,"x"]}', '{"list":{"0":1,"1":"x"}}'],
  ['{"v":1.5e-7}', '{"v":1.5e-7}'],
];

class RouteOf extends ClientZmq {
  route(pattern: unknown): string {
    return this.normalizePattern(pattern as ReadPacket['pattern']);
  }
}

class ServerRouteOf extends ServerZmq {
  route(pattern: unknown): string {
    return this.normalizePattern(pattern as ReadPacket['pattern']);
  }
}

const client = new RouteOf({ connect: 'tcp://127.0.0.1:1' });
const server = new ServerRouteOf({ bind: 'tcp://127.0.0.1:*' });

it.each(VECTORS)('[W-15] %s is sent as %s', (json, route) => {
  const pattern = JSON.parse(json) as unknown;
  expect(client.route(pattern)).toBe(route);
  expect(server.route(pattern)).toBe(route);
});

it('the order of keys does not matter, their case does', () => {
  expect(client.route({ b: 1, a: 2 })).toBe(client.route({ a: 2, b: 1 }));
  expect(client.route({ A: 1 })).not.toBe(client.route({ a: 1 }));
});
