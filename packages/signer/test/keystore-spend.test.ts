/**
 * The spend ledger's own argument checks (keystore/spend.ts; mutation run of 2026-11-28,
 * docs/mutation.md). The ledger is the memory of the per-window amount rule: a row it
 * should not hold, or a window query it should not answer, lets a key spend more than
 * its policy allows, or stops it signing at all. Each refusal is typed (SignerError
 * BAD_FIELD naming the argument) and, inside an admission, writes nothing: the nonce
 * is still unseen and no row was added. Driven through the keystore front as the
 * signer's admission uses it (`admitRequest`, `spentSince`).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Keystore, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { SignerError } from '../src/errors.ts';
import { removeTempDirs, tempDir } from './helpers/cluster.ts';

const stores: Keystore[] = [];
afterEach(() => {
  for (const ks of stores.splice(0)) ks.close();
  removeTempDirs();
});

function create(): Keystore {
  const ks = Keystore.create({ dataDir: path.join(tempDir(), 'd'), kek: { passphrase: 'p' }, signerId: 's1', scryptN: SCRYPT_N_MIN });
  stores.push(ks);
  return ks;
}

const clientKeyHex = 'cd'.repeat(32);
const AT = 5_000_000;
const request = (n: number) => new Uint8Array(32).fill(n);
const none = request(0);
const entry = (n: number, o: Record<string, unknown> = {}) => ({ keyId: 'k-eth', requestId: request(n), asset: 'native', amount: 10n, at: AT, retainMs: 60_000, ...o });
let nonce = 0;
const admit = (ks: Keystore, spend: Record<string, unknown>[]) =>
  ks.admitRequest({ clientKeyHex, nonces: [(++nonce).toString(16).padStart(10, '0')], stamp: AT, spend: spend as never });

/** `run` throws SignerError BAD_FIELD naming `field` (and `message` when given). */
function expectBadField(run: () => unknown, field: string, message?: string): void {
  let thrown: unknown;
  try {
    run();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(SignerError);
  expect(thrown).toMatchObject({ code: 'BAD_FIELD', field });
  if (message !== undefined) expect((thrown as Error).message).toContain(message);
}

describe('the spend ledger refuses what would corrupt a window, and writes nothing then', () => {
  it('refuses a spend row whose amount is not a bigint (a float that lost precision would be written as 1e+21 and break every later window sum)', () => {
    const ks = create();
    for (const amount of [1e21, 5, '5']) {
      const n = nonce + 1;
      expectBadField(() => admit(ks, [entry(1, { amount })]), 'spend.amount', 'expected a non-negative bigint');
      // The admission wrote nothing: its nonce is still unseen, no row was added.
      expect(ks.admitRequest({ clientKeyHex, nonces: [n.toString(16).padStart(10, '0')], stamp: AT })).toBe(true);
    }
    expect(ks.spentSince('k-eth', 'native', 0, none)).toBe(0n);
    expectBadField(() => admit(ks, [entry(1, { amount: -1n })]), 'spend.amount', 'expected a non-negative bigint');
  });

  it('admits a transfer of zero (a call that moves no value) and counts nothing for it, rather than refusing it as negative', () => {
    const ks = create();
    expect(admit(ks, [entry(1, { amount: 0n })])).toBe(true);
    expect(admit(ks, [entry(2, { amount: 7n })])).toBe(true);
    expect(ks.spentSince('k-eth', 'native', AT - 1, none)).toBe(7n);
  });

  it('refuses a spend row with a malformed key id, request id, asset, time or retention, naming it', () => {
    const ks = create();
    expectBadField(() => admit(ks, [entry(1, { keyId: '' })]), 'spend.keyId');
    // A request id of another length could never be excluded as the request's own spend.
    expectBadField(() => admit(ks, [entry(1, { requestId: new Uint8Array(31) })]), 'spend.requestId');
    expectBadField(() => admit(ks, [entry(1, { asset: 'spl:Mint 1' })]), 'spend.asset', 'expected 1-200 characters of [A-Za-z0-9:]');
    expectBadField(() => admit(ks, [entry(1, { asset: 7 })]), 'spend.asset');
    expectBadField(() => admit(ks, [entry(1, { at: -1 })]), 'spend.at');
    expectBadField(() => admit(ks, [entry(1, { retainMs: 1.5 })]), 'spend.retainMs');
    expect(ks.spentSince('k-eth', 'native', 0, none)).toBe(0n);
  });

  it('refuses a window start that is not a safe integer (NaN would match no row and sum a full window to nothing)', () => {
    const ks = create();
    expect(admit(ks, [entry(1)])).toBe(true);
    expect(ks.spentSince('k-eth', 'native', AT - 1, none)).toBe(10n);
    for (const sinceMs of [Number.NaN, AT - 0.5, 2 ** 53, '0']) {
      expectBadField(() => ks.spentSince('k-eth', 'native', sinceMs as number, none), 'sinceMs', 'expected a safe integer');
    }
  });

  it('refuses a window query with a malformed key id, asset or excluded request, naming it', () => {
    const ks = create();
    expectBadField(() => ks.spentSince('', 'native', 0, none), 'keyId');
    expectBadField(() => ks.spentSince('k-eth', 'na tive', 0, none), 'asset', 'expected 1-200 characters of [A-Za-z0-9:]');
    // An excluded request id of another length matches no row: the request's own spend would count against it.
    expectBadField(() => ks.spentSince('k-eth', 'native', 0, new Uint8Array(31)), 'exclude');
  });
});
