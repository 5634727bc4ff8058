/**
 * The keystore additions the daemon needs: the sealed identity key (readable only
 * with the KEK; its public key without), one-nonce discard for an aborted signing
 * attempt, and the attestation kept when a key is retired.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Keystore, KEYSTORE_DB_FILE, SCRYPT_N_MIN } from '../src/keystore/index.ts';
import { removeTempDirs, tempDir } from './helpers/cluster.ts';

const PASS = 'p';
const stores: Keystore[] = [];
afterEach(() => {
  for (const ks of stores.splice(0)) ks.close();
  removeTempDirs();
});

function create(): Keystore {
  const ks = Keystore.create({ dataDir: path.join(tempDir(), 'd'), kek: { passphrase: PASS }, signerId: 's1', scryptN: SCRYPT_N_MIN });
  stores.push(ks);
  return ks;
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('identity key', () => {
  it('is sealed at rest, unsealed with the KEK, stored once, and its public key is readable without the KEK', () => {
    const ks = create();
    const seed = bytes(32, 0x5a);
    ks.putIdentity(seed, bytes(32, 7));
    expect(() => ks.putIdentity(seed, bytes(32, 7))).toThrow(/EXISTS/);
    expect(Keystore.readIdentityPublicKey(ks.dataDir)).toEqual(bytes(32, 7));
    const reopened = Keystore.open({ dataDir: ks.dataDir, kek: { passphrase: PASS } });
    stores.push(reopened);
    expect(reopened.getIdentity()).toEqual({ seed, publicKey: bytes(32, 7) });
    const file = fs.readFileSync(path.join(ks.dataDir, KEYSTORE_DB_FILE));
    expect(file.indexOf(Buffer.from(seed))).toBe(-1);
  });

  it('reports NOT_FOUND when no identity was stored', () => {
    const ks = create();
    expect(() => ks.getIdentity()).toThrow(/NOT_FOUND/);
    expect(() => Keystore.readIdentityPublicKey(ks.dataDir)).toThrow(/NOT_FOUND/);
    expect(() => Keystore.readIdentityPublicKey(tempDir())).toThrow(/NOT_FOUND/);
  });
});

describe('nonces and attestations', () => {
  it('discardNonce makes one fresh nonce unusable and leaves the others', () => {
    const ks = create();
    ks.putPending('k1', 0, 'frost-ed25519', bytes(32, 1), bytes(8, 2));
    ks.activate('k1', 0);
    ks.storeNonce('a', 'k1', 0, bytes(64, 3));
    ks.storeNonce('b', 'k1', 0, bytes(64, 4));
    expect(ks.discardNonce('a')).toBe(true);
    expect(ks.discardNonce('a')).toBe(false);
    expect(() => ks.consumeNonce('a')).toThrow(/NONCE_DISCARDED/);
    expect(ks.consumeNonce('b')).toEqual(bytes(64, 4));
  });

  it('retire keeps the attestation bytes given, readable after a restart', () => {
    const ks = create();
    ks.putPending('k1', 0, 'frost-ed25519', bytes(32, 1), bytes(8, 2));
    ks.activate('k1', 0);
    expect(() => ks.getAttestation('k1')).toThrow(/NOT_FOUND/);
    ks.retire('k1', bytes(32, 9), bytes(20, 8));
    const reopened = Keystore.open({ dataDir: ks.dataDir, kek: { passphrase: PASS } });
    stores.push(reopened);
    expect(reopened.getAttestation('k1')).toEqual(bytes(20, 8));
  });
});
