/**
 * The operations a chaos trial runs, one table entry each. An entry says when it
 * applies to the key pool, how long it takes (the window its kill delay is drawn
 * from), and plans one concrete operation: an `attempt` exactly as a client sends it,
 * and a `done` check for after a failed attempt (the operation may have taken effect
 * before the kill). An operation may also `prepare` the cluster before the timed part
 * (repair: the signer's loss, which no kill lands in).
 */
import { createHash, randomBytes } from 'node:crypto';
import { isClientError, type KeyquorumClient, type KeyJson } from '@keyquorum/client';
import type { Prng } from './prng.ts';
import type { SignatureRecord } from './invariants.ts';
import { verifySignature } from './verify.ts';

export const CHAOS_SUITES = ['frost-secp256k1-tr', 'frost-ed25519', 'ecdsa-secp256k1'] as const;
export type ChaosSuite = (typeof CHAOS_SUITES)[number];
/** The operations of `OPS`. */
export type OpName = 'dkg' | 'sign' | 'refresh' | 'reshare' | 'retire' | 'repair';

/** A signature that failed its standard verifier: a violation, never retried. */
export class BadSignature extends Error {}

/** What a plan may read and record; the pool is the coordinator's active keys, sorted by id. */
export interface OpContext {
  client: KeyquorumClient;
  signerIds: readonly string[];
  threshold: number;
  suites: readonly ChaosSuite[];
  maxKeys: number;
  trial: number;
  active: readonly KeyJson[];
  /** Per key id, the signers that left it (retired it in their keystore): they cannot rejoin it. */
  left: ReadonlyMap<string, readonly string[]>;
  recordSignature(rec: SignatureRecord): void;
  /**
   * The operator's side of a lost disk: the signer is stopped, its data dir wiped and
   * initialised again (a new identity), and the new key pinned at the coordinator and
   * every peer (every node restarted). The cluster is whole again when it resolves.
   */
  loseSigner(id: string): Promise<void>;
}

export interface OpPlan {
  op: OpName;
  keyId: string;
  suite: ChaosSuite;
  /** Parameters in words, for logs and the results file. */
  detail: string;
  /** Runs before the attempt and outside the kill window (a repair's loss); a failure is a harness failure. */
  prepare?(): Promise<void>;
  attempt(): Promise<void>;
  done(): Promise<boolean>;
}

export interface ChaosOp {
  name: OpName;
  weight: number;
  /**
   * Typical span (ms) of one attempt from the client's request to its answer, FROST and
   * ECDSA, on a loaded 2-core machine (measured in early runs); the kill delay is drawn
   * in [0, span), so most kills land while the operation runs and some after it ended.
   */
  spanMs: { frost: number; ecdsa: number };
  applies(ctx: OpContext): boolean;
  plan(ctx: OpContext, rng: Prng): OpPlan;
}

const sha256Hex = (m: Uint8Array) => createHash('sha256').update(m).digest('hex');
const SHORT: Record<ChaosSuite, string> = { 'frost-secp256k1-tr': 'tr', 'frost-ed25519': 'ed', 'ecdsa-secp256k1': 'ec' };

/** The key as the coordinator has it now; undefined if it does not know it. */
async function keyNow(client: KeyquorumClient, keyId: string): Promise<KeyJson | undefined> {
  try {
    return await client.getKey(keyId);
  } catch (e) {
    if (isClientError(e) && e.code === 'UNKNOWN_KEY') return undefined;
    throw e;
  }
}

/** Signs a fresh 32-byte message, checks it with the suite's standard verifier, records it for the nonce scan. */
export async function signAndCheck(ctx: Pick<OpContext, 'client' | 'recordSignature'>, key: Pick<KeyJson, 'id' | 'suite'>): Promise<void> {
  const message = new Uint8Array(randomBytes(32));
  const out = await ctx.client.sign(key.id, { message });
  ctx.recordSignature({ keyId: key.id, messageSha256: sha256Hex(message), signature: out.signature, source: 'client' });
  if (!verifySignature(key.suite, out.signature, message, out.publicKey)) throw new BadSignature(`${key.id}: the ${key.suite} signature does not verify`);
}

const suiteOf = (key: KeyJson) => key.suite as ChaosSuite;

const dkg: ChaosOp = {
  name: 'dkg',
  weight: 2,
  spanMs: { frost: 1500, ecdsa: 18_000 },
  applies: (ctx) => ctx.active.length < ctx.maxKeys,
  plan(ctx, rng) {
    const suite = rng.pick(ctx.suites);
    const keyId = `k${ctx.trial}-${SHORT[suite]}`;
    const signers = [...ctx.signerIds];
    return {
      op: 'dkg',
      keyId,
      suite,
      detail: `${ctx.threshold}-of-${signers.length}`,
      attempt: async () => void (await ctx.client.createKey({ keyId, suite, threshold: ctx.threshold, signers })),
      done: async () => (await keyNow(ctx.client, keyId))?.state === 'active',
    };
  },
};

const sign: ChaosOp = {
  name: 'sign',
  weight: 3,
  spanMs: { frost: 500, ecdsa: 1500 },
  applies: (ctx) => ctx.active.length > 0,
  plan(ctx, rng) {
    const key = rng.pick(ctx.active);
    return { op: 'sign', keyId: key.id, suite: suiteOf(key), detail: `epoch ${key.epoch}`, attempt: () => signAndCheck(ctx, key), done: async () => false };
  },
};

/** A key operation that commits a new epoch: done once the key's epoch passed the one it started from. */
function epochPlan(ctx: OpContext, op: OpName, key: KeyJson, detail: string, run: () => Promise<unknown>): OpPlan {
  return {
    op,
    keyId: key.id,
    suite: suiteOf(key),
    detail,
    attempt: async () => void (await run()),
    done: async () => ((await keyNow(ctx.client, key.id))?.epoch ?? -1) > key.epoch,
  };
}

const refresh: ChaosOp = {
  name: 'refresh',
  weight: 2,
  spanMs: { frost: 1000, ecdsa: 12_000 },
  applies: (ctx) => ctx.active.length > 0,
  plan(ctx, rng) {
    const key = rng.pick(ctx.active);
    return epochPlan(ctx, 'refresh', key, `epoch ${key.epoch} -> ${key.epoch + 1}`, () => ctx.client.refresh(key.id));
  },
};

// ecdsa-secp256k1 keys cannot be reshared yet (BAD_REQUEST): only FROST keys.
const reshareable = (ctx: OpContext) => ctx.active.filter((k) => k.suite !== 'ecdsa-secp256k1');

const reshare: ChaosOp = {
  name: 'reshare',
  weight: 2,
  spanMs: { frost: 800, ecdsa: 800 },
  applies: (ctx) => reshareable(ctx).length > 0,
  plan(ctx, rng) {
    const key = rng.pick(reshareable(ctx));
    // New members: any signer that never left this key (one that left cannot rejoin it).
    const gone = new Set(ctx.left.get(key.id) ?? []);
    const candidates = ctx.signerIds.filter((s) => !gone.has(s));
    const signers = rng.shuffle(candidates).slice(0, rng.int(2, candidates.length));
    const threshold = rng.int(2, signers.length);
    const detail = `epoch ${key.epoch}: ${key.threshold}-of-[${key.signers.join(',')}] -> ${threshold}-of-[${signers.join(',')}]`;
    return epochPlan(ctx, 'reshare', key, detail, () => ctx.client.reshare(key.id, { signers, threshold }));
  },
};

const retire: ChaosOp = {
  name: 'retire',
  weight: 1,
  spanMs: { frost: 600, ecdsa: 1000 },
  // Keep one key to sign with: the last active key is not retired.
  applies: (ctx) => ctx.active.length > 1,
  plan(ctx, rng) {
    const key = rng.pick(ctx.active);
    return {
      op: 'retire',
      keyId: key.id,
      suite: suiteOf(key),
      detail: `epoch ${key.epoch}`,
      attempt: async () => void (await ctx.client.retire(key.id)),
      done: async () => (await keyNow(ctx.client, key.id))?.state === 'retired',
    };
  },
};

/**
 * Repair targets: signers that hold at least one active key and whose every active key
 * can be repaired, i.e. is FROST (ecdsa-secp256k1 repair is refused by design) and has
 * t other holders to help. A wiped signer loses every share it held, so the trial
 * repairs all of them and "no share lost" holds for every key afterwards, unweakened.
 */
export function repairTargets(ctx: Pick<OpContext, 'signerIds' | 'active'>): string[] {
  return ctx.signerIds.filter((s) => {
    const held = ctx.active.filter((k) => k.signers.includes(s));
    return held.length > 0 && held.every((k) => k.suite !== 'ecdsa-secp256k1' && k.signers.length - 1 >= k.threshold);
  });
}

const repair: ChaosOp = {
  name: 'repair',
  weight: 1,
  // All of the target's keys, one repair after the other (1 to 3 keys, ~400 ms each).
  spanMs: { frost: 1500, ecdsa: 1500 },
  applies: (ctx) => repairTargets(ctx).length > 0,
  plan(ctx, rng) {
    const target = rng.pick(repairTargets(ctx));
    const keys = ctx.active.filter((k) => k.signers.includes(target));
    // Audit rows after this seq are this trial's: a key is repaired once a `key.repaired` row names the target.
    let since = Number.POSITIVE_INFINITY;
    const repaired = async (): Promise<Set<string>> => {
      const { entries } = await ctx.client.audit();
      return new Set(entries.filter((e) => e.seq > since && e.event === 'key.repaired' && e.data.signer === target && e.keyId !== null).map((e) => e.keyId as string));
    };
    return {
      op: 'repair',
      keyId: keys.map((k) => k.id).join('+'),
      // The suite of the first key (a target may hold keys of both FROST suites).
      suite: suiteOf(keys[0]!),
      detail: `${target} wiped; repairs ${keys.map((k) => `${k.id}@${k.epoch}`).join(', ')}`,
      prepare: async () => {
        await ctx.loseSigner(target);
        since = (await ctx.client.audit()).entries.at(-1)?.seq ?? 0;
      },
      // As a client would: repair each key the audit does not show repaired yet (a retry skips the ones done).
      attempt: async () => {
        const done = await repaired();
        for (const key of keys) if (!done.has(key.id)) await ctx.client.repair(key.id, target);
      },
      done: async () => {
        const done = await repaired();
        return keys.every((k) => done.has(k.id));
      },
    };
  },
};

export const OPS: readonly ChaosOp[] = [dkg, sign, refresh, reshare, retire, repair];

/** The trial's operation: drawn by weight among the entries that apply to the pool. */
export function chooseOp(ctx: OpContext, rng: Prng, ops: readonly ChaosOp[] = OPS): ChaosOp {
  const applicable = ops.filter((o) => o.applies(ctx));
  return rng.weighted(applicable.map((o) => ({ item: o, weight: o.weight })));
}

export const spanOf = (op: ChaosOp, suite: ChaosSuite) => (suite === 'ecdsa-secp256k1' ? op.spanMs.ecdsa : op.spanMs.frost);
