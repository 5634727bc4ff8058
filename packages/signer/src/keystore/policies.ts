/**
 * Key policies as this signer enforces them (docs/governance.md "Signer"): one
 * `key_policies` row per version it accepted for a key, with the policy's canonical
 * text, its digest, the id of the admin request that set it and this signer's clock
 * when it did. The highest version is in force; the rows below it are its history.
 * Rows are deleted only when a reshare or repair hands this signer the key's policy
 * (`replace`, at the activation of its new share: docs/governance.md "Handover"):
 * the key's rows are replaced by the one handed over (none for the default policy),
 * whose `requestId` is the reshare or repair request. Methods run inside the caller's
 * transaction.
 */
import { type StoreContext, blob } from './database.ts';

export interface StoredPolicy {
  keyId: string;
  version: number;
  /** Canonical text (`policyToText`). */
  text: string;
  digest: Uint8Array;
  /** `clientRequestId` of the request that set it. */
  requestId: Uint8Array;
  setAt: number;
}

interface Row {
  key_id: string;
  version: number;
  text: string;
  digest: Uint8Array;
  request_id: Uint8Array;
  set_at: number;
}

const fromRow = (r: Row): StoredPolicy => ({ keyId: r.key_id, version: r.version, text: r.text, digest: new Uint8Array(r.digest), requestId: new Uint8Array(r.request_id), setAt: r.set_at });

function prepare({ db }: StoreContext) {
  return {
    current: db.prepare<[string], Row>('SELECT * FROM key_policies WHERE key_id = ? ORDER BY version DESC LIMIT 1'),
    history: db.prepare<[string], Row>('SELECT * FROM key_policies WHERE key_id = ? ORDER BY version'),
    drop: db.prepare<[string]>('DELETE FROM key_policies WHERE key_id = ?'),
    put: db.prepare<[string, number, string, Buffer, Buffer, number]>('INSERT INTO key_policies (key_id, version, text, digest, request_id, set_at) VALUES (?, ?, ?, ?, ?, ?)'),
  };
}

export class PolicyRecords {
  readonly #sql: ReturnType<typeof prepare>;

  constructor(ctx: StoreContext) {
    this.#sql = prepare(ctx);
  }

  /** The policy in force for the key: its highest version; undefined if none was ever set. */
  current(keyId: string): StoredPolicy | undefined {
    const r = this.#sql.current.get(keyId);
    return r === undefined ? undefined : fromRow(r);
  }

  history(keyId: string): StoredPolicy[] {
    return this.#sql.history.all(keyId).map(fromRow);
  }

  /** Records a new version; a version already recorded fails (primary key). */
  put(p: StoredPolicy): void {
    this.#sql.put.run(p.keyId, p.version, p.text, blob(p.digest), blob(p.requestId), p.setAt);
  }

  /** A handover: every record of the key is replaced by `p` (by none: the default policy). */
  replace(keyId: string, p: StoredPolicy | undefined): void {
    this.#sql.drop.run(keyId);
    if (p !== undefined) this.put(p);
  }
}
