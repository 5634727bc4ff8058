/**
 * The keystore's session records (migration 2, issue 10 finding 3): the CONFIRM envelope
 * kept with each share (dropped with it), and vetoed sessions (durable; a vetoed
 * session's share is never stored). A keystore migrated from version 1 holds its
 * pending share without a kept CONFIRM and records vetoes like a new one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYSTORE_DB_FILE, Keystore, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { SignerError } from '../src/errors.ts';
import { removeTempDirs, tempDir } from './helpers/cluster.ts';

const SUITE = 'frost-ed25519';
const stores: Keystore[] = [];
afterEach(() => {
  for (const ks of stores.splice(0)) ks.close();
  removeTempDirs();
});

const bytes = (n: number) => new Uint8Array(randomBytes(n));

function fresh(): Keystore {
  const ks = Keystore.create({ dataDir: path.join(tempDir(), 'ks'), kek: { passphrase: 'p' }, signerId: 's1', scryptN: SCRYPT_N_MIN });
  stores.push(ks);
  return ks;
}

function reopen(ks: Keystore): Keystore {
  ks.close();
  const again = Keystore.open({ dataDir: ks.dataDir, kek: { passphrase: 'p' }, signerId: 's1', scryptN: SCRYPT_N_MIN });
  stores.push(again);
  return again;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SignerError);
    return (e as SignerError).code;
  }
  return undefined;
}

describe('keystore session records', () => {
  it("keeps a share's CONFIRM with it: through activation, and dropped with the share", () => {
    const ks = fresh();
    const s0 = { sessionId: bytes(32), confirm: bytes(100) };
    ks.putPending('k', 0, SUITE, bytes(32), bytes(40), s0);
    expect(ks.confirmOf('k', 0)).toEqual({ sessionId: s0.sessionId, envelope: s0.confirm });
    ks.activate('k', 0);
    expect(ks.confirmOf('k', 0)).toEqual({ sessionId: s0.sessionId, envelope: s0.confirm });
    const s1 = { sessionId: bytes(32), confirm: bytes(100) };
    ks.putPending('k', 1, SUITE, bytes(32), bytes(40), s1);
    ks.discardPending('k', 1);
    expect(ks.confirmOf('k', 1)).toBeUndefined();
    ks.putPending('k', 1, SUITE, bytes(32), bytes(40), s1);
    ks.activate('k', 1);
    expect(ks.confirmOf('k', 0)).toBeUndefined();
    expect(ks.confirmOf('k', 1)?.envelope).toEqual(s1.confirm);
    ks.retire('k', bytes(32));
    expect(ks.confirmOf('k', 1)).toBeUndefined();
  });

  it('a vetoed session is durable, keeps its first record, and its share is never stored (VETOED, nothing written)', () => {
    let ks = fresh();
    const sessionId = bytes(32);
    const envelope = bytes(90);
    ks.putPending('k', 0, SUITE, bytes(32), bytes(40));
    ks.activate('k', 0);
    expect(ks.vetoOf(sessionId)).toBeUndefined();
    ks.recordVeto(sessionId, 'k', 1, envelope);
    ks.recordVeto(sessionId, 'k', 1, bytes(90));
    ks = reopen(ks);
    expect(ks.vetoOf(sessionId)).toMatchObject({ keyId: 'k', epoch: 1, envelope });
    expect(code(() => ks.putPending('k', 1, SUITE, bytes(32), bytes(40), { sessionId, confirm: bytes(100) }))).toBe('VETOED');
    expect(ks.listKeys()).toEqual([{ keyId: 'k', state: 'active', epoch: 0, suite: SUITE, pendingEpoch: null }]);
    // Another session of the same key and epoch is not vetoed.
    ks.putPending('k', 1, SUITE, bytes(32), bytes(40), { sessionId: bytes(32), confirm: bytes(100) });
    expect(ks.listKeys()[0]).toMatchObject({ pendingEpoch: 1 });
  });

  it('a keystore migrated from version 1 keeps its pending share without a kept CONFIRM and records vetoes', () => {
    const fixture = fileURLToPath(new URL('./fixtures/keystore-v1', import.meta.url));
    const contents = JSON.parse(fs.readFileSync(path.join(fixture, 'contents.json'), 'utf8')) as { signerId: string; passphrase: string };
    const dataDir = path.join(tempDir(), 'data');
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.copyFileSync(path.join(fixture, KEYSTORE_DB_FILE), path.join(dataDir, KEYSTORE_DB_FILE));
    const ks = Keystore.open({ dataDir, kek: { passphrase: contents.passphrase }, signerId: contents.signerId, scryptN: SCRYPT_N_MIN });
    stores.push(ks);
    expect(ks.listKeys().find((k) => k.keyId === 'frost-k')).toMatchObject({ state: 'active', pendingEpoch: 1 });
    expect(ks.confirmOf('frost-k', 1)).toBeUndefined();
    const sessionId = bytes(32);
    ks.recordVeto(sessionId, 'frost-k', 2, bytes(10));
    expect(ks.vetoOf(sessionId)).toMatchObject({ keyId: 'frost-k', epoch: 2 });
  });
});
