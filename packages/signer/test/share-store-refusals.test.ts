/**
 * What the keystore's share store (keystore/shares.ts) says when it refuses: the code,
 * the field and a message naming the key and the epoch involved, so an operator reading
 * a signer's refusal knows which share it is about (docs/mutation.md, signer
 * `keystore/shares.ts`). Each refusal changes nothing. In-process, real SQLite.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYSTORE_DB_FILE, Keystore, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { SignerError } from '../src/errors.ts';

const SUITE = 'frost-ed25519';
const dirs: string[] = [];
const stores: Keystore[] = [];
afterEach(() => {
  for (const ks of stores.splice(0)) ks.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function create(): Keystore {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-share-refusals-'));
  dirs.push(dataDir);
  const ks = Keystore.create({ dataDir, kek: { passphrase: 'share refusals passphrase' }, signerId: 'signer-1', scryptN: SCRYPT_N_MIN });
  stores.push(ks);
  return ks;
}

const bytes = (n: number) => new Uint8Array(randomBytes(n));

function refusal(fn: () => unknown): { code: string; field?: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SignerError);
    return e as SignerError;
  }
  throw new Error('expected a SignerError');
}

function expectRefusal(fn: () => unknown, code: string, field: string | undefined, message: string): void {
  const e = refusal(fn);
  expect({ code: e.code, field: e.field }).toEqual({ code, field });
  expect(e.message).toContain(message);
}

describe('share store refusals name the key and epoch', () => {
  it('putPending: a duplicate epoch, a second pending epoch, an epoch at or below the active one', () => {
    const ks = create();
    ks.putPending('k1', 3, SUITE, bytes(32), bytes(32));
    ks.activate('k1', 3);
    expectRefusal(() => ks.putPending('k1', 3, SUITE, bytes(32), bytes(32)), 'EXISTS', 'epoch', 'k1 epoch 3');
    expectRefusal(() => ks.putPending('k1', 2, SUITE, bytes(32), bytes(32)), 'WRONG_STATE', 'epoch', 'k1 is active at epoch 3');
    ks.putPending('k1', 4, SUITE, bytes(32), bytes(32));
    expectRefusal(() => ks.putPending('k1', 5, SUITE, bytes(32), bytes(32)), 'WRONG_STATE', 'epoch', 'k1 already has pending epoch 4');
    expect(ks.listKeys()).toEqual([{ keyId: 'k1', state: 'active', epoch: 3, suite: SUITE, pendingEpoch: 4 }]);
  });

  it('activate and discardPending: an unknown epoch, and one that is not pending', () => {
    const ks = create();
    ks.putPending('k1', 0, SUITE, bytes(32), bytes(32));
    ks.activate('k1', 0);
    expectRefusal(() => ks.activate('k1', 7), 'NOT_FOUND', 'epoch', 'k1 epoch 7');
    expectRefusal(() => ks.discardPending('k1', 0), 'WRONG_STATE', 'epoch', 'k1 epoch 0 is active');
    expect(ks.getActive('k1').epoch).toBe(0);
  });

  it('reads: no active share (pending only, or unknown), an unknown epoch', () => {
    const ks = create();
    ks.putPending('k1', 0, SUITE, bytes(32), bytes(32));
    expectRefusal(() => ks.getActive('k1'), 'WRONG_STATE', 'keyId', 'k1 has no active share');
    expectRefusal(() => ks.getActive('k2'), 'NOT_FOUND', 'keyId', 'k2 has no active share');
    expectRefusal(() => ks.getShare('k1', 5), 'NOT_FOUND', 'epoch', 'k1 epoch 5');
  });

  it('a nonce for a key with no active share, or for another epoch than the active one, is refused and not stored', () => {
    const ks = create();
    expectRefusal(() => ks.storeNonce('n1', 'k9', 0, bytes(64)), 'NOT_FOUND', 'keyId', 'k9 has no active share');
    ks.putPending('k1', 0, SUITE, bytes(32), bytes(32));
    ks.activate('k1', 0);
    expectRefusal(() => ks.storeNonce('n2', 'k1', 1, bytes(64)), 'WRONG_STATE', 'epoch', 'k1 is active at epoch 0');
    expect(ks.countFreshNonces('k1')).toBe(0);
    expect(ks.countFreshNonces('k9')).toBe(0);
  });

  it('retiring a key with no share names it', () => {
    const ks = create();
    expectRefusal(() => ks.retire('k3', bytes(32)), 'NOT_FOUND', 'keyId', 'k3 has no share');
  });

  it("a row of another signer is refused as CORRUPT, saying so", () => {
    const ks = create();
    ks.putPending('k1', 0, SUITE, bytes(32), bytes(32));
    ks.activate('k1', 0);
    const dataDir = ks.dataDir;
    ks.close();
    stores.splice(0);
    const db = new Database(path.join(dataDir, KEYSTORE_DB_FILE));
    db.prepare("UPDATE shares SET signer_id = 'signer-9'").run();
    db.close();
    const again = Keystore.open({ dataDir, kek: { passphrase: 'share refusals passphrase' } });
    stores.push(again);
    expectRefusal(() => again.getActive('k1'), 'CORRUPT', 'shares[k1/0].sealed', 'row does not belong to this signer or is retired');
  });
});
