/**
 * secp256k1-specific derivation: BIP32 CKDpub against an independent implementation
 * written here and against BIP32's published test vectors, and BIP341 taproot output
 * keys (key path and script path) for both parities of the internal key.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveChild, HARDENED_OFFSET, targetExternalKey, targetPublicKey, type PublicKeyPackage, type SuiteId } from '../src/index.ts';
import { expectCryptoError, expectStandardVerify, randomMessage, runDkg, runSign } from './helpers.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const { Point } = secp256k1;
const N = Point.Fn.ORDER;
const SECP_SUITES: SuiteId[] = ['frost-secp256k1-tr', 'frost-secp256k1'];

// ---- independent references (plain BIP32 / BIP341 arithmetic, no code from src/) ----

const ser32 = (i: number) => Uint8Array.of(i >>> 24, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff);
const int = (b: Uint8Array) => BigInt('0x' + (hex(b) || '0'));

/** BIP32 CKDpub((K_par, c_par), i) for non-hardened i. */
function ckdPub(K: Uint8Array, c: Uint8Array, i: number): { key: Uint8Array; chainCode: Uint8Array } {
  if (i >= 2 ** 31) throw new Error('hardened');
  const I = hmac(sha512, c, concatBytes(K, ser32(i)));
  const IL = int(I.slice(0, 32));
  if (IL >= N) throw new Error('invalid child');
  return { key: Point.BASE.multiply(IL).add(Point.fromBytes(K)).toBytes(true), chainCode: I.slice(32) };
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Base58Check decoding (the checksum is verified). */
function base58check(text: string): Uint8Array {
  let n = 0n;
  for (const ch of text) {
    const digit = BASE58.indexOf(ch);
    if (digit < 0) throw new Error(`not base58: ${ch}`);
    n = n * 58n + BigInt(digit);
  }
  const bytes: number[] = [];
  for (; n > 0n; n >>= 8n) bytes.unshift(Number(n & 0xffn));
  for (const ch of text) {
    if (ch !== '1') break;
    bytes.unshift(0);
  }
  const raw = Uint8Array.from(bytes);
  const payload = raw.slice(0, -4);
  expect(hex(sha256(sha256(payload)).slice(0, 4)), 'base58check checksum').toBe(hex(raw.slice(-4)));
  return payload;
}

/** BIP32 serialization: version(4) depth(1) fingerprint(4) child(4) chain code(32) key(33). */
function decodeXpub(xpub: string) {
  const b = base58check(xpub);
  expect(b.length).toBe(78);
  expect(hex(b.slice(0, 4))).toBe('0488b21e');
  return { depth: b[4]!, child: new DataView(b.buffer, b.byteOffset + 9, 4).getUint32(0), chainCode: b.slice(13, 45), key: b.slice(45, 78) };
}

const taggedHash = (tag: string, ...parts: Uint8Array[]) => {
  const t = sha256(new TextEncoder().encode(tag));
  return sha256(concatBytes(t, t, ...parts));
};

/** BIP341 taproot_tweak_pubkey: the 32-byte output key for internal key P and a merkle root. */
function taprootOutputKey(P: Uint8Array, merkleRoot: Uint8Array = new Uint8Array(0)): Uint8Array {
  const x = P.slice(1);
  const t = int(taggedHash('TapTweak', x, merkleRoot));
  const lifted = Point.fromBytes(concatBytes(Uint8Array.of(2), x)); // lift_x: the even point with this x
  return lifted.add(Point.BASE.multiply(t)).toBytes(true).slice(1);
}

/** A public package with the given key and chain code; verifying shares are arbitrary valid points. */
function bareKey(suite: SuiteId, groupKey: Uint8Array, chainCode: Uint8Array): PublicKeyPackage {
  return { suite, threshold: 2, participants: [1, 2], groupKey, chainCode, verifyingShares: { 1: Point.BASE.toBytes(true), 2: Point.BASE.double().toBytes(true) } };
}

// BIP32 test vectors (bips/bip-0032.mediawiki): parent and a non-hardened child.
const BIP32_STEPS = [
  {
    name: 'vector 1: m/0H -> m/0H/1',
    parent: 'xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw',
    index: 1,
    child: 'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ',
  },
  {
    name: 'vector 1: m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000',
    parent: 'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV',
    index: 1_000_000_000,
    child: 'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy',
  },
  {
    name: 'vector 2: m -> m/0',
    parent: 'xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB',
    index: 0,
    child: 'xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH',
  },
];

describe.each(SECP_SUITES)('%s BIP32', (suiteId) => {
  const { shares } = runDkg(suiteId, 2, [1, 2, 3]);
  const pkg = shares[0]!.publicKey;

  it.each(BIP32_STEPS)('BIP32 $name: our child step gives the published child key and chain code', ({ parent, index, child }) => {
    const p = decodeXpub(parent);
    const c = decodeXpub(child);
    expect(c.depth).toBe(p.depth + 1);
    expect(c.child).toBe(index);
    const derived = deriveChild(bareKey(suiteId, p.key, p.chainCode), [index]);
    expect(hex(derived.groupKey)).toBe(hex(c.key));
    expect(hex(derived.chainCode)).toBe(hex(c.chainCode));
    // The reference implementation agrees with the published vector too.
    expect(hex(ckdPub(p.key, p.chainCode, index).key)).toBe(hex(c.key));
  });

  it('BIP32: child keys of a threshold key equal an independent CKDpub for random non-hardened paths', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: HARDENED_OFFSET - 1 }), { minLength: 1, maxLength: 5 }), (path) => {
        let ref = { key: pkg.groupKey, chainCode: pkg.chainCode };
        for (const i of path) ref = ckdPub(ref.key, ref.chainCode, i);
        const derived = deriveChild(pkg, path);
        expect(hex(derived.groupKey)).toBe(hex(ref.key));
        expect(hex(derived.chainCode)).toBe(hex(ref.chainCode));
      }),
      { numRuns: 25 },
    );
  });

  it('BIP32: serP uses the real y parity of the group key (also for the x-only suite)', () => {
    // Flipping the parity byte changes the HMAC input, so the child would differ.
    const flipped = concatBytes(Uint8Array.of(pkg.groupKey[0] === 2 ? 3 : 2), pkg.groupKey.slice(1));
    const wrong = ckdPub(flipped, pkg.chainCode, 0);
    expect(hex(deriveChild(pkg, [0]).chainCode)).not.toBe(hex(wrong.chainCode));
    expect(hex(deriveChild(pkg, [0]).chainCode)).toBe(hex(ckdPub(pkg.groupKey, pkg.chainCode, 0).chainCode));
  });
});

describe('frost-secp256k1-tr taproot (BIP341)', () => {
  const suiteId = 'frost-secp256k1-tr';
  // Loop DKGs until both parities of the internal key have been seen (each run is a coin flip).
  const byParity = new Map<number, PublicKeyPackage>();
  const sharesByParity = new Map<number, ReturnType<typeof runDkg>['shares']>();
  for (let tries = 0; byParity.size < 2 && tries < 64; tries++) {
    const { shares } = runDkg(suiteId, 2, [1, 2, 3]);
    const parity = shares[0]!.publicKey.groupKey[0]!;
    if (!byParity.has(parity)) {
      byParity.set(parity, shares[0]!.publicKey);
      sharesByParity.set(parity, shares);
    }
  }

  it('taproot: DKG produced internal keys of both parities', () => {
    expect([...byParity.keys()].sort()).toEqual([2, 3]);
  });

  it.each([
    ['even', 2],
    ['odd', 3],
  ])('taproot: key-path and script-path signatures verify under the BIP341 output key (%s internal key)', (_name, parity) => {
    const pkg = byParity.get(parity)!;
    const shares = sharesByParity.get(parity)!;
    const message = randomMessage();
    for (const merkleRoot of [undefined, randomMessage(32)]) {
      const target = { taproot: merkleRoot === undefined ? {} : { merkleRoot } };
      const outputKey = taprootOutputKey(pkg.groupKey, merkleRoot);
      expect(hex(targetExternalKey(pkg, target))).toBe(hex(outputKey));
      const { signature } = runSign([shares[0]!, shares[2]!], message, target);
      expectStandardVerify(suiteId, outputKey, message, signature);
      // Not a signature under the internal key.
      expectStandardVerify(suiteId, pkg.groupKey.slice(1), message, signature, false);
    }
  });

  it('taproot: a derived child key used as the internal key, for both parities of the child', () => {
    const pkg = byParity.get(2)!;
    const shares = sharesByParity.get(2)!;
    const seen = new Set<number>();
    const message = randomMessage();
    for (let i = 0; seen.size < 2 && i < 64; i++) {
      const child = deriveChild(pkg, [7, i]);
      const parity = child.groupKey[0]!;
      if (seen.has(parity)) continue;
      seen.add(parity);
      const merkleRoot = randomMessage(32);
      const target = { path: [7, i], taproot: { merkleRoot } };
      const outputKey = taprootOutputKey(child.groupKey, merkleRoot);
      expect(hex(targetExternalKey(pkg, target))).toBe(hex(outputKey));
      expectStandardVerify(suiteId, outputKey, message, runSign([shares[1]!, shares[2]!], message, target).signature);
    }
    expect(seen.size).toBe(2);
  });

  it('taproot: the output package is consistent: its verifying shares interpolate to the output key', () => {
    const pkg = byParity.get(3)!;
    const out = targetPublicKey(pkg, { taproot: {} });
    const Y = (id: number) => Point.fromBytes(out.verifyingShares[id]!);
    // lambda_1^{1,2} = 2, lambda_2^{1,2} = -1 at x = 0
    const interpolated = Y(1).multiply(2n).subtract(Y(2));
    expect(hex(interpolated.toBytes(true))).toBe(hex(out.groupKey));
    expect(hex(out.groupKey.slice(1))).toBe(hex(taprootOutputKey(pkg.groupKey)));
  });

  it('taproot: a merkle root of the wrong length is rejected; other suites refuse taproot targets', () => {
    const pkg = byParity.get(2)!;
    expectCryptoError(() => targetExternalKey(pkg, { taproot: { merkleRoot: new Uint8Array(31) } }), 'BAD_FIELD', { field: 'taproot.merkleRoot' });
    for (const other of ['frost-secp256k1', 'frost-ed25519'] as const) {
      const otherPkg = runDkg(other, 2, [1, 2]).shares[0]!.publicKey;
      expectCryptoError(() => targetExternalKey(otherPkg, { taproot: {} }), 'BAD_FIELD', { field: 'target.taproot' });
    }
  });
});

describe('reference self-checks', () => {
  it('the base58check decoder rejects a corrupted checksum', () => {
    const good = BIP32_STEPS[0]!.parent;
    const bad = good.slice(0, -1) + (good.endsWith('w') ? 'x' : 'w');
    expect(() => base58check(bad)).toThrow();
    expect(hexToBytes(hex(base58check(good)))).toHaveLength(78);
  });
});
