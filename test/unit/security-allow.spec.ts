/**
 * The allow-list decision (lib/security/allow.ts): list, '*', function;
 * a function that throws, rejects or does not answer refuses (fail closed);
 * run-time replacement; the HELLO's view (admits) and revoke.
 */
import { generateCurveKeyPair, ZmqCurvePeer } from 'nestjs-zeromq';
import { AuthorityReport, KeyAuthority } from '../../lib/security/allow';
import { ManualTime } from '../helpers/manual-time';
import { flush as settle } from '../helpers/async';

const A = generateCurveKeyPair().publicKey;
const B = generateCurveKeyPair().publicKey;
const peer = (publicKey: string): ZmqCurvePeer => ({ publicKey, address: '127.0.0.1' });

class Report implements AuthorityReport {
  readonly refusals: Array<{ publicKey: string; reason: string }> = [];
  readonly errors: string[] = [];
  refused(p: ZmqCurvePeer, reason: string): void {
    this.refusals.push({ publicKey: p.publicKey, reason });
  }
  error(message: string): void {
    this.errors.push(message);
  }
}

describe('KeyAuthority', () => {
  test('a list admits its keys and refuses (and reports) the others', async () => {
    const report = new Report();
    const authority = new KeyAuthority([A], report);
    await expect(authority.admit(peer(A))).resolves.toBe(true);
    await expect(authority.admit(peer(B))).resolves.toBe(false);
    expect(report.refusals).toEqual([{ publicKey: B, reason: expect.stringMatching(/allow-list/) }]);
    expect(authority.admits(A)).toBe(true);
    expect(authority.admits(B)).toBe(false);
  });

  test("'*' admits any key", async () => {
    const authority = new KeyAuthority('*', new Report());
    await expect(authority.admit(peer(B))).resolves.toBe(true);
    expect(authority.admits(A)).toBe(true);
  });

  test('a function decides per handshake (sync or async) and its HELLO view follows what it admitted', async () => {
    const seen: ZmqCurvePeer[] = [];
    const authority = new KeyAuthority(async p => {
      seen.push(p);
      await Promise.resolve();
      return p.publicKey === A;
    }, new Report());
    expect(authority.admits(A)).toBe(false); // nothing decided yet
    await expect(authority.admit(peer(A))).resolves.toBe(true);
    await expect(authority.admit(peer(B))).resolves.toBe(false);
    expect(seen).toEqual([peer(A), peer(B)]);
    expect(authority.admits(A)).toBe(true);
    expect(authority.admits(B)).toBe(false);
    authority.revoke(A);
    expect(authority.admits(A)).toBe(false);
  });

  test.each([
    [
      'throws',
      () => {
        throw new Error('boom');
      },
    ],
    ['rejects', () => Promise.reject(new Error('boom'))],
    ['returns a truthy non-boolean', () => 'yes' as unknown as boolean],
  ])('a function that %s refuses', async (_label, fn) => {
    const report = new Report();
    const authority = new KeyAuthority(fn, report);
    await expect(authority.admit(peer(A))).resolves.toBe(false);
    expect(report.refusals).toHaveLength(1);
    expect(authority.admits(A)).toBe(false);
  });

  test('a function that never answers refuses after the decision timeout', async () => {
    const time = new ManualTime();
    const report = new Report();
    const authority = new KeyAuthority(() => new Promise<boolean>(() => undefined), report, time, 5_000);
    let result: boolean | undefined;
    void authority.admit(peer(A)).then(ok => (result = ok));
    time.advance(4_999);
    await settle();
    expect(result).toBeUndefined();
    time.advance(1);
    await settle();
    expect(result).toBe(false);
    expect(report.errors[0]).toMatch(/did not decide within 5000 ms/);
  });

  test('set() replaces the policy for new handshakes; a decision in progress is taken again under the new one', async () => {
    let release!: (ok: boolean) => void;
    const authority = new KeyAuthority(() => new Promise<boolean>(resolve => (release = resolve)), new Report());
    const pending = authority.admit(peer(A));
    await settle();
    authority.set([B]);
    release(true); // the old function's answer no longer counts
    await expect(pending).resolves.toBe(false);
    await expect(authority.admit(peer(B))).resolves.toBe(true);
    expect(authority.admits(B)).toBe(true);
    authority.set('*');
    expect(authority.admits(A)).toBe(true);
  });

  test('set() forgets what a function admitted: the next HELLO of that key needs a new handshake', async () => {
    const authority = new KeyAuthority(() => true, new Report());
    await authority.admit(peer(A));
    expect(authority.admits(A)).toBe(true);
    authority.set(() => true);
    expect(authority.admits(A)).toBe(false);
  });
});
