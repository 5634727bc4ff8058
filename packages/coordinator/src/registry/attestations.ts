/**
 * Destruction attestations of retired keys (docs/cluster-protocol.md, "Retirement"):
 * each signer's signed ATTEST, kept so anyone can re-check that the share of the
 * retired key's epoch was wiped. Durable when the registry transaction commits.
 */
import type Database from 'better-sqlite3';

export interface Attestation {
  keyId: string;
  signer: string;
  epoch: number;
  destroyedAt: number;
  verifyingShare: Uint8Array;
  /** The signer's signed ATTEST envelope, encoded: anyone can re-check it. */
  envelope: Uint8Array;
  receivedAt: number;
}

interface AttestationRow {
  key_id: string;
  signer: string;
  epoch: number;
  destroyed_at: number;
  verifying_share: Uint8Array;
  envelope: Uint8Array;
  received_at: number;
}

export class AttestationStore {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
  ) {}

  add(a: Omit<Attestation, 'receivedAt'>): void {
    this.db
      .prepare('INSERT OR REPLACE INTO attestations (key_id, signer, epoch, destroyed_at, verifying_share, envelope, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.keyId, a.signer, a.epoch, a.destroyedAt, a.verifyingShare, a.envelope, this.now());
  }

  /** The attestations of `keyId`, by signer. */
  list(keyId: string): Attestation[] {
    return this.db
      .prepare<[string], AttestationRow>('SELECT * FROM attestations WHERE key_id = ? ORDER BY signer')
      .all(keyId)
      .map((r) => ({
        keyId: r.key_id,
        signer: r.signer,
        epoch: r.epoch,
        destroyedAt: r.destroyed_at,
        verifyingShare: new Uint8Array(r.verifying_share),
        envelope: new Uint8Array(r.envelope),
        receivedAt: r.received_at,
      }));
  }
}
