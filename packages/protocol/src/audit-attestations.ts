/**
 * The signers' own word in an audit export: a `key.attested` row carries the signer's
 * signed ATTEST envelope (docs/cluster-protocol.md, "Retirement"), which an offline
 * verifier re-checks: the envelope is a retirement ATTEST from the row's signer, its
 * body says what the row says (key, epoch, destroyedAt, verifyingShare), and, when the
 * verifier pins that signer's Ed25519 identity key, its signature verifies. A
 * coordinator that rewrites a row and re-chains the log cannot forge that signature.
 * Rows written before the envelope was audited carry none: they are counted, not failed.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { AuditChainRow } from './audit.ts';
import { decodeEnvelope, openEnvelope } from './envelope.ts';
import { RETIRE_ROUND, decodeBody, type RetireAttestBody } from './messages.ts';

/** What the attestations of an export gave: rows seen, with an envelope, and signature-checked against a pinned key. */
export interface AttestationTally {
  attested: number;
  signed: number;
  verified: number;
}

const HEX = /^(?:[0-9a-f]{2})+$/;

/**
 * Checks one entry if it is a `key.attested` row (others: nothing to check), counting
 * it in `tally`; the reason it fails otherwise. `signerKeys`: pinned identity keys by
 * signer id; when given, every signed attestation must verify under its signer's key.
 */
export function checkAttestation(entry: AuditChainRow, data: Record<string, unknown>, signerKeys: ReadonlyMap<string, Uint8Array> | undefined, tally: AttestationTally): string | undefined {
  if (entry.event !== 'key.attested') return undefined;
  tally.attested++;
  if (data.envelope === undefined) return undefined;
  if (typeof data.envelope !== 'string' || !HEX.test(data.envelope)) return 'envelope: expected hex';
  let body: RetireAttestBody;
  let from: string;
  let envelope;
  try {
    envelope = decodeEnvelope(hexToBytes(data.envelope));
    const h = envelope.header;
    if (h.kind !== 'retire' || h.round !== RETIRE_ROUND.ATTEST) return 'envelope: not a retirement ATTEST';
    body = decodeBody<RetireAttestBody>(h.kind, h.round, h.suite, envelope.payload);
    from = h.from;
  } catch {
    return 'envelope: not a well-formed ATTEST envelope';
  }
  if (from !== data.signer) return "the attestation's sender is not the row's signer";
  if (body.keyId !== entry.keyId || body.epoch !== data.epoch || body.destroyedAt !== data.destroyedAt || bytesToHex(body.verifyingShare) !== data.verifyingShare) {
    return 'the signed attestation does not say what the row says (key, epoch, destroyedAt, verifyingShare)';
  }
  tally.signed++;
  if (signerKeys === undefined) return undefined;
  const key = signerKeys.get(from);
  if (key === undefined) return 'no pinned key for the attesting signer';
  try {
    openEnvelope(envelope, key);
  } catch {
    return "the attestation's signature does not verify under the signer's pinned key";
  }
  tally.verified++;
  return undefined;
}
