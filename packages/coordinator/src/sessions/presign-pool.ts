/**
 * The coordinator's side of the ecdsa-secp256k1 presignature pool (docs/cluster-protocol.md
 * "Presignature pool"): the presignatures its presign sessions made, per key and quorum
 * (a DKLs23 presignature is bound to the signers that made it), at the key's epoch, in
 * memory only. `take` hands one out and forgets it: a presignature is used at most once,
 * whatever the attempt's outcome. A quorum's presignatures go when any of its members'
 * connection drops or is replaced (`dropSigner`: the signer discarded them with the
 * link), and a key's pool of another epoch at the next `add` or `take` for the key.
 */
export interface PooledPresignature {
  /** The presignature id: its presign session id (32 bytes). */
  id: Uint8Array;
  /** R, as every quorum member reported it. */
  instancePoint: Uint8Array;
}

interface QuorumPool {
  epoch: number;
  quorum: readonly string[];
  items: PooledPresignature[];
}

const poolKey = (keyId: string, quorum: readonly string[]) => `${keyId}/${[...quorum].sort().join(',')}`;

export class PresignaturePool {
  readonly #pools = new Map<string, QuorumPool>();
  /** (key, quorum) pools a top-up is running for. */
  readonly #making = new Set<string>();

  /** One presignature of `quorum` for the key at `epoch`, taken out of the pool; undefined if none. */
  take(keyId: string, epoch: number, quorum: readonly string[]): PooledPresignature | undefined {
    return this.#pool(keyId, epoch, quorum).items.shift();
  }

  add(keyId: string, epoch: number, quorum: readonly string[], item: PooledPresignature): void {
    this.#pool(keyId, epoch, quorum).items.push(item);
  }

  /** Presignatures held for `quorum` of the key at `epoch`. */
  size(keyId: string, epoch: number, quorum: readonly string[]): number {
    return this.#pool(keyId, epoch, quorum).items.length;
  }

  /** Presignatures held now, every key and quorum. */
  total(): number {
    let n = 0;
    for (const p of this.#pools.values()) n += p.items.length;
    return n;
  }

  /** Marks a top-up of (key, quorum) as running; false if one already runs. */
  begin(keyId: string, quorum: readonly string[]): boolean {
    const k = poolKey(keyId, quorum);
    if (this.#making.has(k)) return false;
    this.#making.add(k);
    return true;
  }

  end(keyId: string, quorum: readonly string[]): void {
    this.#making.delete(poolKey(keyId, quorum));
  }

  /** Forgets every presignature `signer` took part in (its connection dropped or was replaced). */
  dropSigner(signer: string): void {
    for (const [k, p] of this.#pools) if (p.quorum.includes(signer)) this.#pools.delete(k);
  }

  #pool(keyId: string, epoch: number, quorum: readonly string[]): QuorumPool {
    const k = poolKey(keyId, quorum);
    let pool = this.#pools.get(k);
    if (pool === undefined || pool.epoch !== epoch) {
      // Another epoch's presignatures are never used (the signers discarded them at activation).
      pool = { epoch, quorum: [...quorum], items: [] };
      this.#pools.set(k, pool);
    }
    return pool;
  }
}
