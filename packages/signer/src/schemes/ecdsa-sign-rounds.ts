/**
 * The CPU of an ecdsa-secp256k1 signing (DKLs23 Protocol 3.6), as synchronous steps
 * over the secret state they keep: round 1 (steps 4-6), round 2 (step 7, the
 * OT-extension checks), presign (step 8, every consistency check), round 3 (step 9).
 * A crypto worker (`workers/`) runs them, so the instance key r_i, the mask phi_i,
 * the OT-derived state and the presignature live on that thread; only inbound bodies
 * and outbound results cross. The session (`ecdsa-sign.ts`) keeps the order the
 * nonce journal needs on the event loop: it seals round 1's `nonce` (r_i || phi_i)
 * before anything derived leaves, and asks for round 3 only once it has durably
 * consumed that entry, passing it in: round 3 refuses an entry that is not this
 * session's (NONCE_MISMATCH), so the share is never computed from an unconsumed nonce.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { ecdsa } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import type { HeldShare } from '../held-share.ts';
import type { EcdsaSignRound1Out } from '../workers/api.ts';

const Fn = secp256k1.Point.Fn;

/** One signing's steps; `wipe` zeroes what they still hold. */
export interface EcdsaSignSteps {
  round1(params: ecdsa.SignParams): EcdsaSignRound1Out;
  round2(r1: { broadcasts: ecdsa.SignRound1Broadcast[]; direct: ecdsa.SignRound1Direct[] }): ecdsa.SignRound2Direct[];
  presign(direct: ecdsa.SignRound2Direct[]): { instancePoint: Uint8Array };
  round3(input: { journalled: Uint8Array; digest: Uint8Array }): { w: Uint8Array; u: Uint8Array };
  /** Presignature pool: the presignature's secret to seal (96 bytes) instead of round 3; nothing is kept. */
  keep(): Uint8Array;
  /**
   * Zeroes the secret bytes of the last output once it was copied to another thread
   * (the journal entry, each psi_ij); never called when the caller holds the output itself.
   */
  sent(): void;
  wipe(): void;
}

/** The steps over `share`, which they own: it is wiped once presign no longer needs it. */
export function ecdsaSignSteps(share: HeldShare, wipeShare: (share: HeldShare) => void): EcdsaSignSteps {
  let held: HeldShare | undefined = share;
  let r1: ecdsa.SignRound1Secret | undefined;
  let r2: ecdsa.SignRound2Secret | undefined;
  let presignature: ecdsa.Presignature | undefined;
  let outbox: Uint8Array[] = [];
  const dropShare = () => {
    if (held) wipeShare(held);
    held = undefined;
  };
  const step = (name: string, ready: boolean) => {
    if (!ready) throw new SignerError('WRONG_STATUS', { message: `signing ${name} is not the next step` });
  };
  return {
    round1(params) {
      step('round 1', held !== undefined && r1 === undefined && r2 === undefined && presignature === undefined);
      const out = ecdsa.signRound1(held!.ecdsa!, params);
      r1 = out.secret;
      const nonce = new Uint8Array(64);
      nonce.set(Fn.toBytes(out.secret.r), 0);
      nonce.set(Fn.toBytes(out.secret.phi), 32);
      outbox = [nonce];
      return { nonce, commitment: out.broadcast.commitment, direct: out.direct.map((d) => ({ to: d.to, mul: d.mul })) };
    },
    round2({ broadcasts, direct }) {
      step('round 2', r1 !== undefined);
      const out = ecdsa.signRound2(r1!, broadcasts, direct);
      r1 = undefined;
      r2 = out.secret;
      outbox = out.direct.map((m) => m.psi);
      return out.direct;
    },
    presign(direct) {
      step('presign', r2 !== undefined);
      try {
        const out = ecdsa.signPresign(r2!, direct);
        presignature = out.presignature;
        return { instancePoint: out.session.instancePoint };
      } finally {
        r2 = undefined;
        dropShare();
      }
    },
    round3({ journalled, digest }) {
      step('round 3', presignature !== undefined);
      const pre = presignature!;
      presignature = undefined;
      const phi = Fn.toBytes(pre.phi);
      const same = journalled.length === 64 && equalBytes(journalled.subarray(32), phi);
      journalled.fill(0);
      phi.fill(0);
      if (!same) {
        pre.u = pre.v = pre.phi = 0n;
        throw new SignerError('NONCE_MISMATCH', { field: 'nonceId', message: 'the journalled nonce is not the one this session holds' });
      }
      const share = ecdsa.signRound3(pre, digest);
      return { w: share.w, u: share.u };
    },
    keep() {
      step('keep', presignature !== undefined);
      const pre = presignature!;
      presignature = undefined;
      const secret = ecdsa.exportPresignature(pre);
      outbox = [secret];
      return secret;
    },
    sent() {
      for (const b of outbox) b.fill(0);
      outbox = [];
    },
    wipe() {
      if (presignature) presignature.u = presignature.v = presignature.phi = 0n;
      r1 = undefined;
      r2 = undefined;
      presignature = undefined;
      outbox = [];
      dropShare();
    },
  };
}
