/**
 * The client's side of a failed security handshake (lib/client/client-security.ts):
 * which error libzmq's report becomes, once per link.
 */
import { generateCurveKeyPair, ZmqError, ZmqErrorCode } from 'nestjs-zeromq';
import { dealerSecurity, handshakeError } from '../../lib/client/client-security';
import { resolveClientConfig } from '../../lib/config/client-config';
import type { ClientEngine } from '../../lib/protocol/client/client-engine';

const A = 'tcp://127.0.0.1:4001';
const B = 'tcp://127.0.0.1:4002';
const serverA = generateCurveKeyPair();
const serverB = generateCurveKeyPair();
const config = resolveClientConfig({
  connect: [A, B],
  connectTimeout: 250,
  curve: { serverKey: { [A]: serverA.publicKey, [B]: serverB.publicKey } },
});

describe('handshakeError', () => {
  test('an authentication failure, a mechanism mismatch either way, another protocol error', () => {
    expect(handshakeError(A, { kind: 'auth', code: undefined }, true).message).toMatch(
      /refused this client's CURVE key/,
    );
    const mismatch = { kind: 'protocol', code: 'ERR_ZMTP_MECHANISM_MISMATCH' } as const;
    expect(handshakeError(A, mismatch, true).message).toMatch(/does not use CURVE, and this client does/);
    expect(handshakeError(A, mismatch, false).message).toMatch(/requires CURVE/);
    const other = handshakeError(A, { kind: 'protocol', code: 'ERR_ZMTP_CRYPTOGRAPHIC' }, true);
    expect(other).toMatchObject({ code: ZmqErrorCode.AUTH_FAILED, endpoint: A });
    expect(other.message).toMatch(/ERR_ZMTP_CRYPTOGRAPHIC/);
  });
});

describe('dealerSecurity', () => {
  test("each endpoint's DEALER gets that server's key and the client's pair", () => {
    const security = dealerSecurity(config, () => ({}) as ClientEngine);
    expect(security.curveOf(A)).toEqual({ ...config.curve!, serverKey: serverA.publicKey, serverKeys: undefined });
    expect(security.curveOf(B)?.serverKey).toBe(serverB.publicKey);
    expect(config.curve!.publicKey).toHaveLength(40); // a fresh pair: none was given
  });

  test('a failure refuses its link once, and never a link that is closing, closed or already refused', () => {
    const refused: Array<[string, ZmqError]> = [];
    const links = [A, B].map(endpoint => ({ endpoint, channel: { endpoint }, state: { kind: 'handshaking' } }));
    const engine = {
      links,
      refused: (link: (typeof links)[number], err: ZmqError) => {
        refused.push([link.endpoint, err]);
        link.state = { kind: 'refused' };
      },
    } as unknown as ClientEngine;
    const security = dealerSecurity(config, () => engine);
    const auth = { kind: 'auth', code: undefined } as const;
    security.failed(links[0]!.channel as never, auth);
    security.failed(links[0]!.channel as never, auth); // libzmq may report it again: still one refusal
    links[1]!.state = { kind: 'closing' };
    security.failed(links[1]!.channel as never, auth);
    security.failed({} as never, auth); // a channel of no link (torn down meanwhile)
    expect(refused.map(([endpoint, err]) => [endpoint, err.code])).toEqual([[A, ZmqErrorCode.AUTH_FAILED]]);
  });
});
