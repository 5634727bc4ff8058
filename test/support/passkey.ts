/**
 * A software WebAuthn authenticator for tests: a real ES256 (P-256) credential that
 * produces real assertions (W3C WebAuthn Level 3 §6.1 authenticator data, §5.8.1
 * client data JSON, an ASN.1 DER ECDSA signature over authenticatorData ||
 * SHA-256(clientDataJSON)), so that the product verifies them with
 * @simplewebauthn/server exactly as it verifies a phone's or a security key's. A
 * test fixture, never part of the product.
 */
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { PasskeyApproval } from '@keyquorum/protocol';

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

export interface AssertOptions {
  /** Claim user verification (PIN, biometrics); default true. */
  userVerified?: boolean;
  /** Claim user presence; default true. */
  userPresent?: boolean;
  /** Override what the "browser" puts in client data (a phishing origin, a registration type). */
  origin?: string;
  type?: string;
  /** Sign for another RP id (its hash goes in the authenticator data). */
  rpId?: string;
}

export class SoftwarePasskey {
  readonly credentialId: string;
  readonly rpId: string;
  readonly origin: string;
  readonly #secret: Uint8Array;
  #counter = 0;

  constructor(opts: { rpId?: string; origin?: string } = {}) {
    this.rpId = opts.rpId ?? 'localhost';
    this.origin = opts.origin ?? 'http://localhost:8080';
    this.#secret = p256.utils.randomSecretKey();
    this.credentialId = b64url(randomBytes(16));
  }

  /** The credential's COSE_Key (RFC 9052 §7, EC2 P-256 ES256), as registration returns it. */
  get cosePublicKey(): Uint8Array {
    const point = p256.getPublicKey(this.#secret, false);
    return isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, point.slice(1, 33)], [-3, point.slice(33, 65)]]));
  }

  /** The policy entry naming this passkey as approver `id` (JSON form). */
  approver(id: string): { id: string; type: 'webauthn'; credentialId: string; publicKey: string; rpId: string; origin: string } {
    return { id, type: 'webauthn', credentialId: this.credentialId, publicKey: b64url(this.cosePublicKey), rpId: this.rpId, origin: this.origin };
  }

  /** One assertion over `challenge` (navigator.credentials.get with that challenge). */
  assert(challenge: Uint8Array, o: AssertOptions = {}): { authenticatorData: Uint8Array; clientDataJSON: Uint8Array; signature: Uint8Array } {
    this.#counter += 1;
    const flags = ((o.userPresent ?? true) ? FLAG_UP : 0) | ((o.userVerified ?? true) ? FLAG_UV : 0);
    const counter = new Uint8Array(4);
    new DataView(counter.buffer).setUint32(0, this.#counter);
    const authenticatorData = concatBytes(sha256(utf8ToBytes(o.rpId ?? this.rpId)), Uint8Array.of(flags), counter);
    const clientDataJSON = utf8ToBytes(JSON.stringify({ type: o.type ?? 'webauthn.get', challenge: b64url(challenge), origin: o.origin ?? this.origin, crossOrigin: false }));
    const signature = p256.sign(concatBytes(authenticatorData, sha256(clientDataJSON)), this.#secret, { prehash: true, format: 'der' });
    return { authenticatorData, clientDataJSON, signature };
  }

  /** An approval of the request whose approval challenge is `challenge`, by approver `id`. */
  approve(id: string, challenge: Uint8Array, o: AssertOptions = {}): PasskeyApproval {
    return { approver: id, type: 'webauthn', ...this.assert(challenge, o) };
  }
}

/** The policy entry (JSON form) naming an Ed25519 approver key as approver `id`. */
export function ed25519Approver(id: string, key: { publicKey: Uint8Array }): { id: string; type: 'ed25519'; publicKey: string } {
  return { id, type: 'ed25519', publicKey: Buffer.from(key.publicKey).toString('hex') };
}
