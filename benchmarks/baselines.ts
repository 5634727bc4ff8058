/**
 * `baseline.*`: what every keyquorum figure is divided by, measured in the same run.
 * - `single-key.<scheme>.sign`: noble signing with one key in one process (the floor);
 *   for ecdsa-secp256k1, `secp256k1.sign` of a 32-byte digest (prehash false, low s).
 * - `noble-frost.<suite>.2of3.fullSign`: noble's RFC 9591 FROST, all parties in one
 *   process: 2 commits, 2 shares, both shares verified (as a coordinator must), aggregate.
 * - `cmdcode-frost.2of3.fullSign`: @cmdcode/frost (BIP340), the same steps.
 * - `dkls23-<commit>.ecdsa-secp256k1.2of3.fullSign` (benchmarks/ecdsa.ts): DKLs23 as it
 *   was on main when issue 13 started; run only when an ecdsa entry is selected.
 */
import { randomBytes } from 'node:crypto';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr, schnorr_FROST, secp256k1 } from '@noble/curves/secp256k1.js';
import type { FROST } from '@noble/curves/abstract/frost.js';
import {
  combine_partial_sigs,
  create_commit_pkg,
  create_dealer_set,
  get_commit_pkg,
  get_group_signing_ctx,
  sign_msg,
  verify_partial_sig,
  verify_final_sig,
} from '@cmdcode/frost/lib';
import type { MicroEntry } from './lib/micro.ts';

const bytes = (n: number) => new Uint8Array(randomBytes(n));

function nobleFrostFullSign(frost: FROST, verify: (sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) => boolean) {
  const dealt = frost.trustedDealer({ min: 2, max: 3 });
  const signers = Object.values(dealt.secretShares).slice(0, 2);
  const message = bytes(32);
  return () => {
    const round1 = signers.map((s) => ({ s, ...frost.commit(s) }));
    const commitments = round1.map((r) => r.commitments);
    const shares: Record<string, Uint8Array> = {};
    for (const r of round1) shares[r.s.identifier] = frost.signShare(r.s, dealt.public, r.nonces, commitments, message);
    for (const r of round1) if (!frost.verifyShare(dealt.public, commitments, message, r.s.identifier, shares[r.s.identifier]!)) throw new Error('share does not verify');
    const signature = frost.aggregate(dealt.public, commitments, message, shares);
    if (!verify(signature, message, dealt.public.commitments[0]!)) throw new Error('signature does not verify');
    return signature;
  };
}

function cmdcodeFullSign() {
  const group = create_dealer_set(2, 3, [Buffer.from(bytes(32)).toString('hex')]);
  const shares = group.shares.slice(0, 2);
  const message = Buffer.from(bytes(32)).toString('hex');
  return () => {
    const commits = shares.map((s) => create_commit_pkg(s));
    const ctx = get_group_signing_ctx(group.group_pk, commits, message);
    const psigs = ctx.indexes.map((i) => {
      const share = shares.find((s) => BigInt(s.idx) === BigInt(i))!;
      const pkg = get_commit_pkg(commits, share);
      const sig = sign_msg(ctx, share, pkg);
      if (!verify_partial_sig(ctx, pkg, sig.pubkey, sig.psig)) throw new Error('share does not verify');
      return sig;
    });
    const signature = combine_partial_sigs(ctx, psigs);
    if (!verify_final_sig(ctx, message, signature)) throw new Error('signature does not verify');
    return signature;
  };
}

export function baselineEntries(): MicroEntry[] {
  const message = bytes(32);
  const schnorrKey = schnorr.utils.randomSecretKey();
  const edKey = ed25519.utils.randomSecretKey();
  const ecdsaKey = secp256k1.utils.randomSecretKey();
  return [
    { name: 'baseline.single-key.frost-secp256k1-tr.sign', fn: () => schnorr.sign(message, schnorrKey) },
    { name: 'baseline.single-key.frost-ed25519.sign', fn: () => ed25519.sign(message, edKey) },
    { name: 'baseline.single-key.ecdsa-secp256k1.sign', fn: () => secp256k1.sign(message, ecdsaKey, { prehash: false, lowS: true }) },
    // noble's FROST verify() is the suite's own verifier (BIP340 for the -tr suite), as in RFC 9591.
    { name: 'baseline.noble-frost.secp256k1-tr.2of3.fullSign', fn: nobleFrostFullSign(schnorr_FROST as FROST, (s, m, p) => schnorr_FROST.verify(s, m, p)) },
    { name: 'baseline.noble-frost.ed25519.2of3.fullSign', fn: nobleFrostFullSign(ed25519_FROST as FROST, (s, m, p) => ed25519_FROST.verify(s, m, p)) },
    { name: 'baseline.cmdcode-frost.2of3.fullSign', fn: cmdcodeFullSign() },
  ];
}
