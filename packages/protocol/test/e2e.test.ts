import { nobleX25519, x25519Backend, x25519Ready } from '@keyquorum/crypto';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/curves/utils.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptFrom, encryptTo } from '../src/e2e.ts';
import { decodeEnvelope, encodeEnvelope, openEnvelope, sealEnvelope, type Envelope, type Header } from '../src/envelope.ts';
import { agreement, generateIdentity, staticAgreement } from '../src/identity.ts';
import { expectWireError, seededRng } from './helpers.ts';

const alice = generateIdentity(seededRng('alice'));
const bob = generateIdentity(seededRng('bob'));
const coordinator = generateIdentity(seededRng('coordinator'));
const sessionId = seededRng('session')(32);
const share = new TextEncoder().encode('secret share for bob');
const header: Header = { v: 1, kind: 'dkg', suite: 'frost-ed25519', sessionId, round: 2, from: 'alice', to: 'bob' };

/**
 * X25519 u-coordinates of order dividing 8 (RFC 7748 §6.1; libsodium's blocklist), plus
 * non-canonical encodings of them (u = p, u = p + 1, and u = 0 with the masked top bit set).
 */
const LOW_ORDER_U = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
];

function sealedShare(h: Header = header): Envelope {
  const { payload, enc } = encryptTo(alice, bob.publicKey, h, share, seededRng('eph'));
  return sealEnvelope(alice, h, payload, { enc });
}

beforeAll(async () => {
  // The product path: libsodium's X25519 once loaded (x25519.test.ts checks it against noble).
  await x25519Ready;
  expect(x25519Backend().name).toBe('libsodium-wasm');
});

describe('end-to-end encryption', () => {
  it('every message of a conversation decrypts (the memoised static term is handed out as a copy)', () => {
    for (let i = 0; i < 3; i++) {
      const h = { ...header, round: i };
      const { payload, enc } = encryptTo(alice, bob.publicKey, h, share);
      expect(decryptFrom(bob, alice.publicKey, sealEnvelope(alice, h, payload, { enc }))).toEqual(share);
      const back = encryptTo(bob, alice.publicKey, { ...h, from: 'bob', to: 'alice' }, share);
      expect(decryptFrom(alice, bob.publicKey, sealEnvelope(bob, { ...h, from: 'bob', to: 'alice' }, back.payload, { enc: back.enc }))).toEqual(share);
    }
  });

  it('the memoised static agreement equals a fresh one for each peer, survives a wiped copy, and never keeps a refusal', () => {
    const fresh = agreement(alice, bob.x25519PublicKey);
    expect(fresh).toEqual(agreement(bob, alice.x25519PublicKey));
    // noble's answer from alice's seed (generateIdentity draws it from the rng).
    expect(fresh).toEqual(nobleX25519.sharedSecret(ed25519.utils.toMontgomerySecret(seededRng('alice')(32)), bob.x25519PublicKey));
    const memo = staticAgreement(alice, bob.x25519PublicKey);
    expect(memo).toEqual(fresh);
    memo.fill(0);
    expect(staticAgreement(alice, bob.x25519PublicKey)).toEqual(fresh);
    expect(staticAgreement(alice, coordinator.x25519PublicKey)).toEqual(agreement(coordinator, alice.x25519PublicKey));
    expect(staticAgreement(alice, coordinator.x25519PublicKey)).not.toEqual(fresh);
    // Past the bound (256 peers) the memo is cleared and refilled, answers unchanged.
    for (let i = 0; i < 300; i++) staticAgreement(alice, generateIdentity().x25519PublicKey);
    expect(staticAgreement(alice, bob.x25519PublicKey)).toEqual(fresh);
    for (const hex of LOW_ORDER_U)
      for (let i = 0; i < 2; i++) expect(() => staticAgreement(alice, hexToBytes(hex))).toThrow(expect.objectContaining({ code: 'BAD_POINT' }));
  });

  it('the recipient decrypts what the sender encrypted, after the envelope crosses the wire', () => {
    const e = openEnvelope(decodeEnvelope(encodeEnvelope(sealedShare())), alice.publicKey, { expect: { to: 'bob', sessionId } });
    expect(decryptFrom(bob, alice.publicKey, e)).toEqual(share);
  });

  it('the relaying coordinator cannot decrypt a share it carries', () => {
    const e = sealedShare();
    expect(Buffer.from(e.payload).includes(Buffer.from(share))).toBe(false);
    expectWireError(() => decryptFrom(coordinator, alice.publicKey, e), 'DECRYPT_FAILED', 'payload');
  });

  it('a relay that flips one ciphertext byte is detected', () => {
    const e = sealedShare();
    for (const i of [0, e.payload.length - 1]) {
      const payload = Uint8Array.from(e.payload);
      payload[i]! ^= 0x01;
      expectWireError(() => decryptFrom(bob, alice.publicKey, { ...e, payload }), 'DECRYPT_FAILED', 'payload');
      expectWireError(() => openEnvelope({ ...e, payload }, alice.publicKey), 'BAD_SIGNATURE');
    }
  });

  it('the ciphertext is bound to its header: another round or session does not decrypt', () => {
    const e = sealedShare();
    for (const h of [{ ...header, round: 3 }, { ...header, sessionId: seededRng('other')(32) }]) {
      expectWireError(() => decryptFrom(bob, alice.publicKey, { ...e, header: h }), 'DECRYPT_FAILED', 'payload');
    }
  });

  it('the key is bound to the sender: a share claimed to come from another identity does not decrypt', () => {
    expectWireError(() => decryptFrom(bob, coordinator.publicKey, sealedShare()), 'DECRYPT_FAILED', 'payload');
  });

  it('a swapped ephemeral key does not decrypt', () => {
    const e = sealedShare();
    const other = encryptTo(alice, bob.publicKey, header, share, seededRng('eph-2')).enc;
    expectWireError(() => decryptFrom(bob, alice.publicKey, { ...e, enc: other }), 'DECRYPT_FAILED', 'payload');
  });

  it('a low-order X25519 point is refused', () => {
    const e = sealedShare();
    for (const hex of LOW_ORDER_U) {
      expectWireError(() => decryptFrom(bob, alice.publicKey, { ...e, enc: { eph: hexToBytes(hex) } }), 'DECRYPT_FAILED', 'enc.eph');
    }
  });

  it('a low-order recipient identity key is refused before encrypting', () => {
    for (const hex of ED25519_TORSION_SUBGROUP) {
      expectWireError(() => encryptTo(alice, hexToBytes(hex), header, share), 'BAD_FIELD', 'recipientEd25519Pub');
    }
  });

  it('each message gets a fresh ephemeral key and ciphertext', () => {
    const a = encryptTo(alice, bob.publicKey, header, share);
    const b = encryptTo(alice, bob.publicKey, header, share);
    expect(a.enc.eph).not.toEqual(b.enc.eph);
    expect(a.payload).not.toEqual(b.payload);
  });

  it('refuses a malformed header, plaintext or sender key naming it, before any key agreement', () => {
    expectWireError(() => encryptTo(alice, bob.publicKey, { ...header, round: -1 }, share), 'BAD_FIELD', 'header.round');
    expectWireError(() => encryptTo(alice, bob.publicKey, header, 'a share' as never), 'BAD_FIELD', 'plaintext');
    expectWireError(() => decryptFrom(bob, alice.publicKey.subarray(1), sealedShare()), 'BAD_FIELD', 'senderEd25519Pub');
  });

  it('refuses to encrypt to a broadcast, and refuses an unencrypted payload', () => {
    expectWireError(() => encryptTo(alice, bob.publicKey, { ...header, to: '*' }, share), 'BAD_FIELD', 'header.to');
    const plain = sealEnvelope(alice, header, share);
    expectWireError(() => decryptFrom(bob, alice.publicKey, plain), 'DECRYPT_FAILED', 'enc');
  });
});
