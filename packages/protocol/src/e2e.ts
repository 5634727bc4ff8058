/**
 * Point-to-point payload encryption, so the relaying coordinator cannot read DKG
 * shares or OT messages. Per message the sender draws an ephemeral X25519 key
 * (RFC 7748 §6.1) and derives, with HKDF-SHA256 (RFC 5869),
 *   ikm  = X25519(eph, R) || X25519(S, R)         (R, S: static X25519 keys of
 *                                                  recipient and sender)
 *   salt = sessionId
 *   info = E2E_TAG || senderEd25519Pub || recipientEd25519Pub || ephPub || canonicalHeader
 * a ChaCha20-Poly1305 key (RFC 8439 §2.8) with the canonical header as AAD. The
 * static-static term authenticates the sender to the recipient; the ephemeral term
 * gives a fresh key per message; `info` binds both identities, the session and the
 * header. Intermediate secrets are wiped best-effort.
 *
 * X25519 runs on @keyquorum/crypto's X25519 backend (libsodium in WebAssembly once
 * loaded, else noble). The static-static term is memoised per (identity, peer) in
 * identity.ts, so a message costs the sender two X25519 operations (ephemeral key,
 * ephemeral agreement) and the recipient one, after the first message to a peer.
 */
import { x25519Backend } from '@keyquorum/crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { BROADCAST, E2E_TAG, X25519_KEY_LENGTH } from './constants.ts';
import { canonicalHeaderBytes, parseEnvelope, parseHeader, type EncInfo, type Envelope, type EnvelopeOptions, type Header } from './envelope.ts';
import { WireError } from './errors.ts';
import { agreement, staticAgreement, type IdentityKey } from './identity.ts';
import { defaultRng, drawRandom, type Rng } from './rng.ts';
import { bytes, point } from './validate.ts';

/**
 * The key is used for exactly one message (it depends on a fresh ephemeral key), so
 * the all-zero nonce never repeats under one key (RFC 8439 §4 requires uniqueness
 * per key only) and costs no bytes on the wire.
 */
const NONCE = new Uint8Array(12);
const KEY_LENGTH = 32;

function deriveKey(
  dhEph: Uint8Array,
  dhStatic: Uint8Array,
  sessionId: Uint8Array,
  senderPub: Uint8Array,
  recipientPub: Uint8Array,
  eph: Uint8Array,
  headerBytes: Uint8Array,
): Uint8Array {
  const ikm = concatBytes(dhEph, dhStatic);
  const info = concatBytes(utf8ToBytes(E2E_TAG), senderPub, recipientPub, eph, headerBytes);
  const key = hkdf(sha256, ikm, sessionId, info, KEY_LENGTH);
  ikm.fill(0);
  dhEph.fill(0);
  dhStatic.fill(0);
  return key;
}

/**
 * Encrypts `plaintext` for `recipientEd25519Pub` under `header` (which must name one
 * recipient). Seal the result with `sealEnvelope(identity, header, payload, { enc })`.
 */
export function encryptTo(
  sender: IdentityKey,
  recipientEd25519Pub: Uint8Array,
  header: Header,
  plaintext: Uint8Array,
  rng: Rng = defaultRng,
  opts: EnvelopeOptions = {},
): { payload: Uint8Array; enc: EncInfo } {
  const h = parseHeader(header, 'header', opts);
  if (h.to === BROADCAST) throw new WireError('BAD_FIELD', { field: 'header.to', message: 'BAD_FIELD: header.to: cannot encrypt to a broadcast' });
  const recipientPub = point('ed25519', recipientEd25519Pub, 'recipientEd25519Pub');
  bytes(plaintext, undefined, 'plaintext');
  const headerBytes = canonicalHeaderBytes(h, opts);
  const recipientX = ed25519.utils.toMontgomery(recipientPub);
  const ephSecret = drawRandom(rng, X25519_KEY_LENGTH);
  const x25519 = x25519Backend();
  const eph = x25519.publicKey(ephSecret);
  const key = deriveKey(
    x25519.sharedSecret(ephSecret, recipientX),
    staticAgreement(sender, recipientX),
    h.sessionId,
    sender.publicKey,
    recipientPub,
    eph,
    headerBytes,
  );
  ephSecret.fill(0);
  const payload = chacha20poly1305(key, NONCE, headerBytes).encrypt(plaintext);
  key.fill(0);
  return { payload, enc: { eph } };
}

/**
 * Decrypts an envelope's payload from `senderEd25519Pub`. Call it after
 * `openEnvelope` accepted the signature: the signature covers the ciphertext and
 * `enc.eph`, so a failure here is then attributable to the sender, not the relay.
 */
export function decryptFrom(
  recipient: IdentityKey,
  senderEd25519Pub: Uint8Array,
  envelope: Envelope,
  opts: EnvelopeOptions = {},
): Uint8Array {
  const e = parseEnvelope(envelope, opts);
  const senderPub = point('ed25519', senderEd25519Pub, 'senderEd25519Pub');
  if (e.enc === undefined) throw new WireError('DECRYPT_FAILED', { field: 'enc', message: 'DECRYPT_FAILED: payload is not encrypted' });
  const dhStatic = staticAgreement(recipient, ed25519.utils.toMontgomery(senderPub));
  let dhEph: Uint8Array;
  try {
    // Both X25519 backends refuse low-order u-coordinates (RFC 7748 §6.1 check).
    dhEph = agreement(recipient, e.enc.eph);
  } catch {
    dhStatic.fill(0);
    throw new WireError('DECRYPT_FAILED', { field: 'enc.eph' });
  }
  const headerBytes = canonicalHeaderBytes(e.header, opts);
  const key = deriveKey(
    dhEph,
    dhStatic,
    e.header.sessionId,
    senderPub,
    recipient.publicKey,
    e.enc.eph,
    headerBytes,
  );
  try {
    return chacha20poly1305(key, NONCE, headerBytes).decrypt(e.payload);
  } catch {
    throw new WireError('DECRYPT_FAILED', { field: 'payload' });
  } finally {
    key.fill(0);
  }
}
