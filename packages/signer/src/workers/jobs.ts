/**
 * The work a crypto worker does, written once for both places it runs: a spec
 * (`api.ts`) opens the scheme driver's synchronous key rounds or an ecdsa-secp256k1
 * signing's steps (`schemes/`), and a call is one round on its inbound bodies. Errors cross a thread as plain data and
 * are rebuilt as the typed error they were (a `CryptoError` keeps its `culprits`, so
 * the session still names the cheater); anything else becomes INTERNAL on the way.
 */
import { WireError, type WireErrorCode } from '@keyquorum/protocol';
import { CryptoError, type CryptoErrorCode } from '@keyquorum/crypto';
import { SignerError, type SignerErrorCode } from '../errors.ts';
import { redacted } from '@keyquorum/crypto';
import type { KeyRounds } from '../schemes/driver.ts';
import { ecdsaSignSteps } from '../schemes/ecdsa-sign-rounds.ts';
import { schemeFor, wipeHeldShare } from '../schemes/index.ts';
import type { JobSpec, KeyRoundsSpec } from './api.ts';

/** A call's step: a key round, or a signing step (`EcdsaSignSteps`). */
export type RoundName = 'round1' | 'round2' | 'round3' | 'presign' | 'keep';

/** What an open job is, wherever it runs: one step per call, a hook once an output was copied away, and wipe. */
export interface Job {
  call(round: RoundName, arg: unknown): unknown;
  /** The last output was copied to another thread: zero the secrets this side still holds of it. */
  sent(): void;
  wipe(): void;
}

/** The job `spec` opens; it owns a share the spec carries. */
export function openJob(spec: JobSpec): Job {
  if (spec.op === 'ecdsa-sign') {
    const steps = ecdsaSignSteps(spec.share, wipeHeldShare);
    return {
      call(round, arg) {
        if (round === 'round1') return steps.round1(arg as Parameters<typeof steps.round1>[0]);
        if (round === 'round2') return steps.round2(arg as Parameters<typeof steps.round2>[0]);
        if (round === 'presign') return steps.presign(arg as Parameters<typeof steps.presign>[0]);
        if (round === 'keep') return steps.keep();
        return steps.round3(arg as Parameters<typeof steps.round3>[0]);
      },
      sent: () => steps.sent(),
      wipe: () => steps.wipe(),
    };
  }
  const rounds = openKeyRounds(spec);
  return { call: (round, arg) => callRound(rounds, round, arg), sent: () => {}, wipe: () => rounds.wipe() };
}

/** The driver's rounds for `spec`; they own a share the spec carries. */
export function openKeyRounds(spec: KeyRoundsSpec): KeyRounds {
  switch (spec.op) {
    case 'dkg':
      return schemeFor(spec.params.suite).dkg(spec.params);
    case 'refresh':
      return schemeFor(spec.share.suite).refresh(spec.share);
    case 'reshare': {
      const reshare = schemeFor(spec.suite).reshare;
      if (reshare === undefined) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `${spec.suite} has no reshare` });
      return reshare(spec.params);
    }
  }
}

/**
 * A spec that arrived by structured clone: a share in it lost its redaction hooks
 * (they are non-enumerable), so it gets them back before any code can log it.
 */
export function rewrapSpec(spec: JobSpec): JobSpec {
  if (spec.op === 'refresh' || spec.op === 'ecdsa-sign') redacted(spec.share, `HeldShare ${spec.share.keyId}@${spec.share.epoch}`);
  if (spec.op === 'reshare' && spec.params.share) redacted(spec.params.share, `HeldShare ${spec.params.share.keyId}@${spec.params.share.epoch}`);
  return spec;
}

/** Zeroes the share a spec hands over (the caller's copy, once a worker holds its own). */
export function wipeSpec(spec: JobSpec): void {
  const share = spec.op === 'refresh' || spec.op === 'ecdsa-sign' ? spec.share : spec.op === 'reshare' ? spec.params.share : undefined;
  if (share) schemeFor(share.suite).wipe(share);
}

/** One round of open key rounds. */
function callRound(rounds: KeyRounds, round: RoundName, arg: unknown): unknown {
  if (round === 'presign' || round === 'keep') throw new SignerError('WORKER_FAILED', { message: `key rounds have no ${round} step` });
  if (round === 'round1') return rounds.round1(arg as Uint8Array);
  if (round === 'round2') return rounds.round2(arg as ReadonlyMap<string, unknown>);
  return rounds.round3(arg as ReadonlyMap<string, unknown>);
}

/** A typed error as plain data (it crosses the thread boundary by structured clone). */
export interface SerializedError {
  type: 'CryptoError' | 'SignerError' | 'WireError' | 'Internal';
  code: string;
  message: string;
  field: string | undefined;
  culprits: (string | number)[];
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof CryptoError) return { type: 'CryptoError', code: e.code, message: e.message, field: e.field, culprits: e.culprits };
  if (e instanceof SignerError) return { type: 'SignerError', code: e.code, message: e.message, field: e.field, culprits: e.culprits };
  if (e instanceof WireError) return { type: 'WireError', code: e.code, message: e.message, field: e.field, culprits: e.culprits };
  return { type: 'Internal', code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), field: undefined, culprits: [] };
}

export function deserializeError(s: SerializedError): Error {
  const opts = { message: s.message, ...(s.field === undefined ? {} : { field: s.field }) };
  if (s.type === 'CryptoError') return new CryptoError(s.code as CryptoErrorCode, { ...opts, culprits: s.culprits as number[] });
  if (s.type === 'SignerError') return new SignerError(s.code as SignerErrorCode, { ...opts, culprits: s.culprits as string[] });
  if (s.type === 'WireError') return new WireError(s.code as WireErrorCode, { ...opts, culprits: s.culprits as string[] });
  return new SignerError('WORKER_FAILED', { message: `crypto worker: ${s.message}` });
}
