/**
 * The spend ledger (docs/transactions.md section 3, rule `amount`): what each
 * transaction this signer admitted for a key moves away from it, one row per (request,
 * asset) with the request's total of the asset as a decimal string of base units and
 * this signer's clock when it admitted it. Every input and attempt of one transaction
 * is signed under one request, so a request counts once (INSERT OR IGNORE on the
 * primary key). Written in the transaction that consumes the request's replay entry,
 * before anything of a signature leaves the signer, so a window's total survives a
 * restart of this signer and a restart or replacement of the coordinator. Each row
 * carries its own retention (`retain_until`: the policy's longest window when it was
 * written, at least MIN_VELOCITY_RETENTION_MS); rows past it are pruned on each write.
 * Methods check their arguments (the keystore front leaves that to them) and run
 * inside the caller's transaction.
 */
import { SignerError } from '../errors.ts';
import { aBytes, aId, aUint } from './assert.ts';
import { ATTESTATION_DIGEST_LENGTH } from './constants.ts';
import { type StoreContext, blob } from './database.ts';

export interface SpendEntry {
  keyId: string;
  requestId: Uint8Array;
  /** 'native' or the token (TxTransfer.asset). */
  asset: string;
  /** The request's total of the asset, base units (>= 0). */
  amount: bigint;
  at: number;
  /** The row is kept until `at + retainMs`. */
  retainMs: number;
}

/** An asset name as the chain modules give it ('native', 0x + 40 hex, base58, 'spl:<base58>'). */
const ASSET = /^[A-Za-z0-9:]{1,200}$/;

function aAsset(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ASSET.test(value)) throw new SignerError('BAD_FIELD', { field, message: 'expected 1-200 characters of [A-Za-z0-9:]' });
  return value;
}

function prepare({ db }: StoreContext) {
  return {
    add: db.prepare<[string, Buffer, string, string, number, number]>('INSERT OR IGNORE INTO spend_ledger (key_id, request_id, asset, amount, at, retain_until) VALUES (?, ?, ?, ?, ?, ?)'),
    prune: db.prepare<[string, number]>('DELETE FROM spend_ledger WHERE key_id = ? AND retain_until < ?'),
    amounts: db.prepare<[string, string, number, Buffer], string>('SELECT amount FROM spend_ledger WHERE key_id = ? AND asset = ? AND at > ? AND request_id <> ?').pluck(),
  };
}

export class SpendLedger {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  /** Records the request's amount of the asset once (a later input or attempt of it adds nothing) and prunes the key's expired rows. */
  record(e: SpendEntry): void {
    aId(e.keyId, 'spend.keyId');
    aBytes(e.requestId, 'spend.requestId', { len: ATTESTATION_DIGEST_LENGTH });
    aAsset(e.asset, 'spend.asset');
    if (typeof e.amount !== 'bigint' || e.amount < 0n) throw new SignerError('BAD_FIELD', { field: 'spend.amount', message: 'expected a non-negative bigint' });
    aUint(e.at, 'spend.at');
    aUint(e.retainMs, 'spend.retainMs');
    this.#sql.add.run(e.keyId, blob(e.requestId), e.asset, e.amount.toString(10), e.at, e.at + e.retainMs);
    this.#sql.prune.run(e.keyId, e.at);
  }

  /** The key's total of `asset` admitted after `sinceMs`, request `exclude` not counted (summed as BigInt: amounts reach 2^256). */
  spentSince(keyId: string, asset: string, sinceMs: number, exclude: Uint8Array): bigint {
    aId(keyId, 'keyId');
    aAsset(asset, 'asset');
    if (typeof sinceMs !== 'number' || !Number.isSafeInteger(sinceMs)) throw new SignerError('BAD_FIELD', { field: 'sinceMs', message: 'expected a safe integer' });
    aBytes(exclude, 'exclude', { len: ATTESTATION_DIGEST_LENGTH });
    return this.#sql.amounts.all(keyId, asset, sinceMs, blob(exclude)).reduce((sum, a) => sum + BigInt(a), 0n);
  }
}
