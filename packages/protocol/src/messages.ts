/**
 * The message catalogue of the cluster: one body type per (kind, round), each with
 * a strict parser. Every frame on a socket is an `Envelope` (envelope.ts); its
 * header's `kind` and `round` say which body its payload holds, and `to` says who
 * may read it. Bodies of secret rounds (DKG/refresh/reshare shares) travel end-to-end
 * encrypted (e2e.ts): the coordinator relays them and can read none of them.
 *
 * Session shape for dkg, refresh and reshare (C = coordinator, S = signer):
 *   START         C->S  parameters and the client's signed request   (sessionId = proposal id)
 *   CONTRIBUTION  S->C  32 fresh bytes                               (sessionId = proposal id)
 *   CONTRIBUTIONS C->S  every participant's CONTRIBUTION envelope   (sessionId = proposal id)
 *   -- from here sessionId = deriveSessionId(every contribution, the request digest) --
 *   R1            S->*  round-1 broadcast (commitments)
 *   R1_DELIVER    C->S  every R1 envelope
 *   R2            S->S  round-2 point-to-point secret, encrypted to the recipient
 *   R2_DELIVER    C->S  the R2 envelopes addressed to this signer
 *   CONFIRM       S->C  transcript hash and resulting public key package; the new share
 *                       is stored as pending
 *   COMMIT        C->S  every CONFIRM envelope: the signer activates only if all agree
 *   ACK           S->C  done
 *   ABORT         C->S  discard pending state
 * Share repair (kind 'repair', same rounds): R1 = a helper's delta to each other helper and
 *   R2 = a helper's sigma to the target, both encrypted; only the target CONFIRMs.
 * Signing: START (C->S) -> COMMITMENT (S->C, nonce commitments, stored sealed)
 *   -> SIGN (C->S, the quorum's COMMITMENT envelopes; sessionId derived from them)
 *   -> SHARE (S->C, after the nonce is durably consumed) | ABORT. Nonce pool (FROST):
 *   POOL (C->S) -> OFFERs (S->C, one per commitment made ahead; sessionId = nonce id);
 *   POOLED (C->S, START fields + the quorum's OFFERs) -> SHARE | ABORT.
 *   (ecdsa-secp256k1 signs in DKLs23's three rounds instead: ECDSA_SIGN_ROUND, ecdsa.ts;
 *   decodeBody picks that suite's parsers from `suite`.)
 * Retirement: START -> APPROVE (S->C, bound to the client request's id) -> COMMIT (C->S, the client's
 *   signed request and at least t APPROVEs of it, while fresh) -> ATTEST (S->C) | ABORT (voids it). Key states
 *   (kind 'state', key-states.ts): START -> ACK | ATTEST (destroy) | ABORT. Checkpoints: audit-checkpoint.ts.
 * Connection control: CHALLENGE (C->S) -> AUTH (S->C) -> WELCOME {signerNonce, leaderToken} (C->S; the token: ha.md §2); ERROR both ways.
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { parseClientRequest, type ClientRequest } from './auth.ts';
import { decode, encode, type WireValue } from './codec.ts';
import { CONTRIBUTION_LENGTH, DIGEST_LENGTH, ED25519_PUBLIC_KEY_LENGTH, KEY_ID_PATTERN, MAX_PARTICIPANTS, NODE_ID_PATTERN, SUITELESS_KINDS } from './constants.ts';
import { parseEnvelope, type Envelope } from './envelope.ts';
import { WireError } from './errors.ts';
import { parseKeyAbort, parseResolve, parseVeto } from './resolve.ts';
import { GOVERNANCE_PARSERS, handoverPolicy } from './policy-messages.ts';
import { CHECKPOINT_PARSERS } from './audit-checkpoint.ts';
import { array, bytes, fieldPath, point, scalar, str, strictObject, uint, type Curve } from './validate.ts';
import { ECDSA_SIGN_ROUND, ECDSA_SUITE, assertEcdsaStart, isEcdsaSecretRound, parseEcdsaDkgRound2, parseEcdsaPresigned, parseEcdsaSignR1, parseEcdsaSignR2, parseEcdsaSignShare } from './ecdsa.ts';
import { parseSignTxField, type SignTxField } from './tx/wire.ts';

/** The coordinator's node id in every header. */
export const COORDINATOR_ID = 'coordinator';

/** Round numbers of the multi-party key sessions (dkg, refresh, reshare). */
export const KEY_ROUND = {
  START: 0,
  CONTRIBUTION: 1,
  CONTRIBUTIONS: 2,
  R1: 3,
  R1_DELIVER: 4,
  R2: 5,
  R2_DELIVER: 6,
  CONFIRM: 7,
  COMMIT: 8,
  ACK: 9,
  RESOLVE: 10, VETO: 11, // RESOLVE C->S, VETO S->C: an unresolved key session (resolve.ts)
  ABORT: 15,
} as const;

export const SIGN_ROUND = { START: 0, COMMITMENT: 1, SIGN: 2, SHARE: 3, POOL: 4, OFFER: 5, POOLED: 6, ABORT: 15 } as const;
export const RETIRE_ROUND = { START: 0, APPROVE: 1, COMMIT: 2, ATTEST: 3, ABORT: 15 } as const;
export const CONTROL_ROUND = { CHALLENGE: 0, AUTH: 1, WELCOME: 2, ERROR: 3 } as const;

export const SUITE_CURVES: Readonly<Record<string, Curve>> = {
  'frost-secp256k1-tr': 'secp256k1',
  'frost-secp256k1': 'secp256k1',
  'frost-ed25519': 'ed25519',
  [ECDSA_SUITE]: 'secp256k1',
};

/** The curve of a suite id, or UNKNOWN_SUITE. */
export function curveOf(suite: string, field = 'header.suite'): Curve {
  const curve = SUITE_CURVES[suite];
  if (!curve) throw new WireError('UNKNOWN_SUITE', { field });
  return curve;
}

/** A signer's place in a key: its node id and its FROST participant index. */
export interface ParticipantRef {
  signer: string;
  index: number;
}

/** Public key package on the wire (verifying shares in `participants` order). */
export interface WirePublicKey {
  suite: string;
  threshold: number;
  participants: number[];
  groupKey: Uint8Array;
  verifyingShares: Uint8Array[];
  chainCode: Uint8Array;
}

export interface TaprootTarget {
  merkleRoot?: Uint8Array;
}

// ---- bodies ----
export interface ChallengeBody { nonce: Uint8Array }
export interface AuthBody { nonce: Uint8Array; coordinatorNonce: Uint8Array; publicKey: Uint8Array }
export interface WelcomeBody { signerNonce: Uint8Array; /** The sender's fencing token (docs/ha.md §2); 0 without a lease. */ leaderToken: number }
export interface ErrorBody { code: string; message: string }

export interface DkgStartBody { keyId: string; threshold: number; participants: ParticipantRef[]; request: ClientRequest }
export interface RefreshStartBody { keyId: string; epoch: number; participants: ParticipantRef[]; request?: ClientRequest; scheduled?: true }
export interface ReshareStartBody {
  keyId: string;
  epoch: number;
  oldPublicKey: WirePublicKey;
  oldParticipants: ParticipantRef[];
  dealers: ParticipantRef[];
  newParticipants: ParticipantRef[];
  newThreshold: number;
  request: ClientRequest;
  /** The key's current policy, canonical text (`policyToText`); absent = DEFAULT_POLICY. Old holders refuse any other. */
  policy?: string;
}
/** Share repair: `helpers` (at least t holders at `epoch`) rebuild `target`'s share of the key `publicKey`. */
export interface RepairStartBody {
  keyId: string;
  epoch: number;
  publicKey: WirePublicKey;
  participants: ParticipantRef[];
  target: ParticipantRef;
  helpers: ParticipantRef[];
  request: ClientRequest;
  /** As in ReshareStartBody: the key's current policy, checked by the helpers, recorded by the target. */
  policy?: string;
}
export interface ContributionBody { contribution: Uint8Array }
export interface DeliverBody { envelopes: Envelope[] }
export interface DkgRound1Body { commitment: Uint8Array[]; proofOfKnowledge: Uint8Array; chainCodeContribution: Uint8Array }
export interface CommitmentBody { commitment: Uint8Array[] }
export interface SecretShareBody { signingShare: Uint8Array }
export interface ConfirmBody { keyId: string; epoch: number; transcriptHash: Uint8Array; publicKey: WirePublicKey }
export interface AckBody { keyId: string; epoch: number }
/** ABORT both ways: C->S ends a session; S->C reports why, naming cheating peers. `envelopes` (key sessions, resolve.ts): a VETO C->S, the signer's CONFIRM S->C (with its stored member refs). */
export interface AbortBody { reason: string; culprits?: string[]; envelopes?: Envelope[]; participants?: ParticipantRef[] }

export interface SignStartBody {
  keyId: string;
  epoch: number;
  message: Uint8Array;
  path?: string;
  taproot?: TaprootTarget;
  request: ClientRequest;
  /** A transaction-aware signature (tx/wire.ts): the signer computes `message`, `path` and `taproot` from it and refuses any other. */
  tx?: SignTxField;
}
export interface SignCommitmentBody { hiding: Uint8Array; binding: Uint8Array }
export interface SignShareBody { share: Uint8Array }
/** Nonce pool (FROST): POOL asks a signer to top up its commitments of a key's epoch; OFFER is one (sessionId = its nonce id); POOLED signs in one round trip. */
export interface SignPoolBody { keyId: string; epoch: number } export interface SignOfferBody extends SignPoolBody { hiding: Uint8Array; binding: Uint8Array }
export interface SignPooledBody { start: SignStartBody; envelopes: Envelope[] }
/** ecdsa-secp256k1 POOLED (presignature pool, ecdsa.ts): the START fields and the id of a presignature its quorum made. */
export interface EcdsaPooledBody { start: SignStartBody; presignature: Uint8Array }

export interface RetireStartBody { keyId: string; epoch: number; request: ClientRequest }
/** `requestId` is `clientRequestId` of the retire request approved: one request, its nonce and timestamp. */
export interface RetireApproveBody { keyId: string; epoch: number; requestId: Uint8Array }
/** The client's signed retire request, checked by every signer itself, and the APPROVE envelopes of it. */
export interface RetireCommitBody { request: ClientRequest; envelopes: Envelope[] }
export interface RetireAttestBody { keyId: string; epoch: number; destroyedAt: number; verifyingShare: Uint8Array }

/** Largest message a signer signs (digests and small payloads). */
export const MAX_SIGN_MESSAGE_BYTES = 64 * 1024;
const MAX_PATH_LENGTH = 1024, MAX_REASON_LENGTH = 1024;

// ---- field parsers ----
const keyId = (v: unknown, f: string) => str(v, KEY_ID_PATTERN, f);
const epoch = (v: unknown, f: string) => uint(v, 0, Number.MAX_SAFE_INTEGER, f);
const b32 = (v: unknown, f: string) => bytes(v, 32, f);

export function parseParticipants(v: unknown, field: string, min = 1): ParticipantRef[] {
  const list = array(v, MAX_PARTICIPANTS, field);
  if (list.length < min) throw new WireError('BAD_FIELD', { field, message: `BAD_FIELD: ${field}: need at least ${min}` });
  const signers = new Set<string>();
  const indices = new Set<number>();
  return list.map((item, i) => {
    const f = fieldPath(field, i);
    const o = strictObject(item, ['signer', 'index'], ['signer', 'index'], f);
    const ref = { signer: str(o.signer, NODE_ID_PATTERN, fieldPath(f, 'signer')), index: uint(o.index, 1, 65_535, fieldPath(f, 'index')) };
    if (signers.has(ref.signer) || indices.has(ref.index)) throw new WireError('BAD_FIELD', { field: f, message: `BAD_FIELD: ${f}: duplicate participant` });
    signers.add(ref.signer);
    indices.add(ref.index);
    return ref;
  });
}

export function parseWirePublicKey(v: unknown, field: string): WirePublicKey {
  const o = strictObject(v, ['suite', 'threshold', 'participants', 'groupKey', 'verifyingShares', 'chainCode'], ['suite', 'threshold', 'participants', 'groupKey', 'verifyingShares', 'chainCode'], field);
  const suite = str(o.suite, 64, fieldPath(field, 'suite'));
  const curve = curveOf(suite, fieldPath(field, 'suite'));
  const participants = array(o.participants, MAX_PARTICIPANTS, fieldPath(field, 'participants')).map((x, i) => uint(x, 1, 65_535, fieldPath(fieldPath(field, 'participants'), i)));
  const threshold = uint(o.threshold, 1, participants.length, fieldPath(field, 'threshold'));
  const shares = array(o.verifyingShares, MAX_PARTICIPANTS, fieldPath(field, 'verifyingShares'));
  if (shares.length !== participants.length) throw new WireError('BAD_FIELD', { field: fieldPath(field, 'verifyingShares') });
  return {
    suite,
    threshold,
    participants,
    groupKey: point(curve, o.groupKey, fieldPath(field, 'groupKey')),
    verifyingShares: shares.map((s, i) => point(curve, s, fieldPath(fieldPath(field, 'verifyingShares'), i))),
    chainCode: b32(o.chainCode, fieldPath(field, 'chainCode')),
  };
}

function parseEnvelopes(v: unknown, field: string): Envelope[] {
  return array(v, MAX_PARTICIPANTS * MAX_PARTICIPANTS, field).map((e, i) => {
    try {
      return parseEnvelope(e);
    } catch (err) {
      if (err instanceof WireError) throw new WireError(err.code, { field: `${fieldPath(field, i)}.${err.field ?? ''}` });
      throw err;
    }
  });
}

function points(curve: Curve, v: unknown, field: string): Uint8Array[] {
  return array(v, MAX_PARTICIPANTS, field).map((p, i) => point(curve, p, fieldPath(field, i)));
}

type Parser = (o: unknown, curve: Curve | undefined) => unknown;

const obj = <K extends string>(v: unknown, keys: readonly K[], optional: readonly K[] = []) => strictObject(v, [...keys, ...optional], keys, '');

const needCurve = (curve: Curve | undefined): Curve => {
  if (!curve) throw new WireError('UNKNOWN_SUITE', { field: 'header.suite' });
  return curve;
};

const secretShare: Parser = (v, c) => ({ signingShare: scalar(needCurve(c), obj(v, ['signingShare']).signingShare, 'signingShare', { allowZero: true }) });
const contribution: Parser = (v) => ({ contribution: bytes(obj(v, ['contribution']).contribution, CONTRIBUTION_LENGTH, 'contribution') });
const deliver: Parser = (v) => ({ envelopes: parseEnvelopes(obj(v, ['envelopes']).envelopes, 'envelopes') });
const abort: Parser = (v) => {
  const o = obj(v, ['reason'], ['culprits']);
  const body: AbortBody = { reason: str(o.reason, MAX_REASON_LENGTH, 'reason') };
  if (o.culprits !== undefined) body.culprits = array(o.culprits, MAX_PARTICIPANTS, 'culprits').map((c, i) => str(c, NODE_ID_PATTERN, fieldPath('culprits', i)));
  return body;
};
const ack: Parser = (v) => {
  const o = obj(v, ['keyId', 'epoch']);
  return { keyId: keyId(o.keyId, 'keyId'), epoch: epoch(o.epoch, 'epoch') };
};
const confirm: Parser = (v) => {
  const o = obj(v, ['keyId', 'epoch', 'transcriptHash', 'publicKey']);
  return { keyId: keyId(o.keyId, 'keyId'), epoch: epoch(o.epoch, 'epoch'), transcriptHash: b32(o.transcriptHash, 'transcriptHash'), publicKey: parseWirePublicKey(o.publicKey, 'publicKey') };
};
const commitmentBody: Parser = (v, c) => ({ commitment: points(needCurve(c), obj(v, ['commitment']).commitment, 'commitment') });

/** Shared by dkg, refresh and reshare. */
const KEY_SESSION_COMMON: Record<number, Parser> = {
  [KEY_ROUND.CONTRIBUTION]: contribution,
  [KEY_ROUND.CONTRIBUTIONS]: deliver,
  [KEY_ROUND.R1_DELIVER]: deliver,
  [KEY_ROUND.R2_DELIVER]: deliver,
  [KEY_ROUND.CONFIRM]: confirm,
  [KEY_ROUND.COMMIT]: deliver,
  [KEY_ROUND.ACK]: ack,
  [KEY_ROUND.RESOLVE]: (v) => parseResolve(v, parseParticipants), [KEY_ROUND.VETO]: parseVeto,
  [KEY_ROUND.ABORT]: (v) => parseKeyAbort(v, abort, parseParticipants),
};

const PARSERS: Record<string, Record<number, Parser>> = {
  control: {
    [CONTROL_ROUND.CHALLENGE]: (v) => ({ nonce: b32(obj(v, ['nonce']).nonce, 'nonce') }),
    [CONTROL_ROUND.AUTH]: (v) => {
      const o = obj(v, ['nonce', 'coordinatorNonce', 'publicKey']);
      return { nonce: b32(o.nonce, 'nonce'), coordinatorNonce: b32(o.coordinatorNonce, 'coordinatorNonce'), publicKey: bytes(o.publicKey, ED25519_PUBLIC_KEY_LENGTH, 'publicKey') };
    },
    [CONTROL_ROUND.WELCOME]: (v) => { const o = obj(v, ['signerNonce', 'leaderToken']); return { signerNonce: b32(o.signerNonce, 'signerNonce'), leaderToken: epoch(o.leaderToken, 'leaderToken') }; },
    [CONTROL_ROUND.ERROR]: (v) => {
      const o = obj(v, ['code', 'message']);
      return { code: str(o.code, 64, 'code'), message: str(o.message, MAX_REASON_LENGTH, 'message') };
    },
  },
  dkg: {
    ...KEY_SESSION_COMMON,
    [KEY_ROUND.START]: (v) => {
      const o = obj(v, ['keyId', 'threshold', 'participants', 'request']);
      return { keyId: keyId(o.keyId, 'keyId'), threshold: uint(o.threshold, 1, MAX_PARTICIPANTS, 'threshold'), participants: parseParticipants(o.participants, 'participants', 2), request: parseClientRequest(o.request, 'request') };
    },
    [KEY_ROUND.R1]: (v, c) => {
      const o = obj(v, ['commitment', 'proofOfKnowledge', 'chainCodeContribution']);
      const curve = needCurve(c);
      return {
        commitment: points(curve, o.commitment, 'commitment'),
        proofOfKnowledge: bytes(o.proofOfKnowledge, (curve === 'secp256k1' ? 33 : 32) + 32, 'proofOfKnowledge'),
        chainCodeContribution: b32(o.chainCodeContribution, 'chainCodeContribution'),
      };
    },
    [KEY_ROUND.R2]: secretShare,
  },
  refresh: {
    ...KEY_SESSION_COMMON,
    [KEY_ROUND.START]: (v) => {
      const o = obj(v, ['keyId', 'epoch', 'participants'], ['request', 'scheduled']);
      if ((o.request === undefined) === (o.scheduled === undefined) || (o.scheduled !== undefined && o.scheduled !== true)) throw new WireError('BAD_FIELD', { field: 'scheduled', message: 'BAD_FIELD: scheduled: a refresh START carries a request or scheduled: true' });
      return { keyId: keyId(o.keyId, 'keyId'), epoch: epoch(o.epoch, 'epoch'), participants: parseParticipants(o.participants, 'participants', 2), ...(o.scheduled === true ? { scheduled: true } : { request: parseClientRequest(o.request, 'request') }) };
    },
    [KEY_ROUND.R1]: commitmentBody,
    [KEY_ROUND.R2]: secretShare,
  },
  reshare: {
    ...KEY_SESSION_COMMON,
    [KEY_ROUND.START]: (v) => {
      const o = obj(v, ['keyId', 'epoch', 'oldPublicKey', 'oldParticipants', 'dealers', 'newParticipants', 'newThreshold', 'request'], ['policy']);
      return {
        keyId: keyId(o.keyId, 'keyId'),
        epoch: epoch(o.epoch, 'epoch'),
        oldPublicKey: parseWirePublicKey(o.oldPublicKey, 'oldPublicKey'),
        oldParticipants: parseParticipants(o.oldParticipants, 'oldParticipants', 2),
        dealers: parseParticipants(o.dealers, 'dealers', 1),
        newParticipants: parseParticipants(o.newParticipants, 'newParticipants', 2),
        newThreshold: uint(o.newThreshold, 1, MAX_PARTICIPANTS, 'newThreshold'),
        request: parseClientRequest(o.request, 'request'),
        ...handoverPolicy(o.policy),
      };
    },
    [KEY_ROUND.R1]: commitmentBody,
    [KEY_ROUND.R2]: secretShare,
  },
  repair: {
    ...KEY_SESSION_COMMON,
    [KEY_ROUND.START]: (v) => {
      const o = obj(v, ['keyId', 'epoch', 'publicKey', 'participants', 'target', 'helpers', 'request'], ['policy']);
      return {
        keyId: keyId(o.keyId, 'keyId'),
        epoch: epoch(o.epoch, 'epoch'),
        publicKey: parseWirePublicKey(o.publicKey, 'publicKey'),
        participants: parseParticipants(o.participants, 'participants', 2),
        target: parseParticipants([o.target], 'target', 1)[0]!,
        helpers: parseParticipants(o.helpers, 'helpers', 1),
        request: parseClientRequest(o.request, 'request'),
        ...handoverPolicy(o.policy),
      };
    },
    [KEY_ROUND.R1]: secretShare,
    [KEY_ROUND.R2]: secretShare,
  },
  sign: {
    [SIGN_ROUND.START]: (v) => {
      const o = obj(v, ['keyId', 'epoch', 'message', 'request'], ['path', 'taproot', 'tx']);
      const body: SignStartBody = {
        keyId: keyId(o.keyId, 'keyId'),
        epoch: epoch(o.epoch, 'epoch'),
        message: bytes(o.message, undefined, 'message'),
        request: parseClientRequest(o.request, 'request'),
      };
      if (body.message.length > MAX_SIGN_MESSAGE_BYTES) throw new WireError('BAD_FIELD', { field: 'message' });
      if (o.path !== undefined) body.path = str(o.path, MAX_PATH_LENGTH, 'path');
      if (o.taproot !== undefined) {
        const t = strictObject(o.taproot, ['merkleRoot'], [], 'taproot');
        body.taproot = t.merkleRoot === undefined ? {} : { merkleRoot: b32(t.merkleRoot, 'taproot.merkleRoot') };
      }
      if (o.tx !== undefined) body.tx = parseSignTxField(o.tx, 'tx');
      return body;
    },
    [SIGN_ROUND.COMMITMENT]: (v, c) => {
      const o = obj(v, ['hiding', 'binding']);
      const curve = needCurve(c);
      return { hiding: point(curve, o.hiding, 'hiding'), binding: point(curve, o.binding, 'binding') };
    },
    [SIGN_ROUND.SIGN]: deliver,
    [SIGN_ROUND.SHARE]: (v, c) => ({ share: scalar(needCurve(c), obj(v, ['share']).share, 'share', { allowZero: true }) }),
    [SIGN_ROUND.POOL]: (v) => ({ keyId: keyId(obj(v, ['keyId', 'epoch']).keyId, 'keyId'), epoch: epoch((v as { epoch: unknown }).epoch, 'epoch') }),
    [SIGN_ROUND.OFFER]: (v, c) => {
      const o = obj(v, ['keyId', 'epoch', 'hiding', 'binding']);
      return { keyId: keyId(o.keyId, 'keyId'), epoch: epoch(o.epoch, 'epoch'), hiding: point(needCurve(c), o.hiding, 'hiding'), binding: point(needCurve(c), o.binding, 'binding') }; },
    [SIGN_ROUND.POOLED]: (v, c) => ({ start: PARSERS.sign![SIGN_ROUND.START]!(obj(v, ['start', 'envelopes']).start, c) as SignStartBody, envelopes: parseEnvelopes((v as { envelopes: unknown }).envelopes, 'envelopes') }),
    [SIGN_ROUND.ABORT]: abort,
  },
  retire: {
    [RETIRE_ROUND.START]: (v) => {
      const o = obj(v, ['keyId', 'epoch', 'request']);
      return { keyId: keyId(o.keyId, 'keyId'), epoch: epoch(o.epoch, 'epoch'), request: parseClientRequest(o.request, 'request') };
    },
    [RETIRE_ROUND.APPROVE]: (v) => {
      const o = obj(v, ['keyId', 'epoch', 'requestId']);
      return { keyId: keyId(o.keyId, 'keyId'), epoch: epoch(o.epoch, 'epoch'), requestId: bytes(o.requestId, DIGEST_LENGTH, 'requestId') };
    },
    [RETIRE_ROUND.COMMIT]: (v) => {
      const o = obj(v, ['request', 'envelopes']);
      return { request: parseClientRequest(o.request, 'request'), envelopes: parseEnvelopes(o.envelopes, 'envelopes') };
    },
    [RETIRE_ROUND.ATTEST]: (v) => {
      const o = obj(v, ['keyId', 'epoch', 'destroyedAt', 'verifyingShare']);
      return { keyId: keyId(o.keyId, 'keyId'), epoch: epoch(o.epoch, 'epoch'), destroyedAt: uint(o.destroyedAt, 0, Number.MAX_SAFE_INTEGER, 'destroyedAt'), verifyingShare: bytes(o.verifyingShare, undefined, 'verifyingShare') };
    },
    [RETIRE_ROUND.ABORT]: abort,
  },
  ...GOVERNANCE_PARSERS, checkpoint: CHECKPOINT_PARSERS, // checkpoint (audit-checkpoint.ts): suite-less, as control
};

/** ecdsa-secp256k1 (ecdsa.ts): its own dkg/refresh round 2 and signing rounds; no reshare or repair yet. */
const ECDSA_PARSERS: Record<string, Record<number, Parser>> = {
  dkg: { ...PARSERS.dkg, [KEY_ROUND.R2]: parseEcdsaDkgRound2 },
  refresh: { ...PARSERS.refresh, [KEY_ROUND.R2]: parseEcdsaDkgRound2 },
  sign: {
    [ECDSA_SIGN_ROUND.START]: (v, c) => assertEcdsaStart(PARSERS.sign![SIGN_ROUND.START]!(v, c) as SignStartBody),
    [ECDSA_SIGN_ROUND.CONTRIBUTION]: contribution,
    [ECDSA_SIGN_ROUND.CONTRIBUTIONS]: deliver,
    [ECDSA_SIGN_ROUND.R1]: parseEcdsaSignR1,
    [ECDSA_SIGN_ROUND.R1_DELIVER]: deliver,
    [ECDSA_SIGN_ROUND.R2]: parseEcdsaSignR2,
    [ECDSA_SIGN_ROUND.R2_DELIVER]: deliver,
    [ECDSA_SIGN_ROUND.SHARE]: parseEcdsaSignShare,
    [ECDSA_SIGN_ROUND.PRESIGN]: PARSERS.sign![SIGN_ROUND.POOL]!,
    [ECDSA_SIGN_ROUND.PRESIGNED]: parseEcdsaPresigned,
    [ECDSA_SIGN_ROUND.POOLED]: (v, c) => ({ start: ECDSA_PARSERS.sign![ECDSA_SIGN_ROUND.START]!(obj(v, ['start', 'presignature']).start, c), presignature: bytes((v as { presignature: unknown }).presignature, 32, 'presignature') }),
    [ECDSA_SIGN_ROUND.ABORT]: abort,
  },
  retire: PARSERS.retire!,
  ...GOVERNANCE_PARSERS,
};

/** Rounds whose bodies are secret and must arrive end-to-end encrypted (`suite` and `to` matter for ecdsa-secp256k1). */
export function isSecretRound(kind: string, round: number, suite?: string, to?: string): boolean {
  if (suite === ECDSA_SUITE) return isEcdsaSecretRound(kind, round, to);
  if (kind === 'repair') return round === KEY_ROUND.R1 || round === KEY_ROUND.R2;
  return (kind === 'dkg' || kind === 'refresh' || kind === 'reshare') && round === KEY_ROUND.R2;
}

/**
 * Decodes and validates the body of a (kind, round) from its plaintext payload bytes.
 * Unknown rounds are UNKNOWN_KIND; fields are validated for the suite's curve.
 */
export function decodeBody<T = unknown>(kind: string, round: number, suite: string, payload: Uint8Array, opts: { maxBytes?: number } = {}): T {
  const table = suite === ECDSA_SUITE && !SUITELESS_KINDS.includes(kind) ? ECDSA_PARSERS[kind] : PARSERS[kind];
  const parser = table?.[round];
  if (!parser) throw new WireError('UNKNOWN_KIND', { field: 'header.round', message: `UNKNOWN_KIND: no ${kind} message has round ${round}` });
  const curve = SUITELESS_KINDS.includes(kind) ? undefined : (SUITE_CURVES[suite] ?? needCurve(undefined));
  return parser(decode(payload, opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }), curve) as T;
}

/** Encodes a body as payload bytes (plain data only). */
export function encodeBody(body: unknown): Uint8Array {
  return encode(body as WireValue);
}

/** Hex of a key-session proposal or session id, for logs and maps. */
export const sessionKey = (id: Uint8Array): string => bytesToHex(id);
