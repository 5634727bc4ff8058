/**
 * Control frames this signer sends (docs/cluster-protocol.md "Connection", "Frames"):
 * AUTH during the handshake and ERROR in answer to a frame that fails a check.
 * An ERROR carries the offending frame's session id when it could be decoded.
 */
import { CONTROL_ROUND, COORDINATOR_ID, PROTOCOL_VERSION, SESSION_ID_LENGTH, encodeBody, sealEnvelope, type Envelope, type ErrorBody, type IdentityKey } from '@keyquorum/protocol';
import { CONTROL_SUITE } from './constants.ts';

const MAX_CODE = 64;
const MAX_MESSAGE = 1024;

export function controlEnvelope(identity: IdentityKey, signerId: string, sessionId: Uint8Array, round: number, body: unknown): Envelope {
  return sealEnvelope(
    identity,
    { v: PROTOCOL_VERSION, kind: 'control', suite: CONTROL_SUITE, sessionId, round, from: signerId, to: COORDINATOR_ID },
    encodeBody(body),
  );
}

export function errorEnvelope(identity: IdentityKey, signerId: string, sessionId: Uint8Array | undefined, code: string, message: string): Envelope {
  const body: ErrorBody = { code: code.slice(0, MAX_CODE), message: message.slice(0, MAX_MESSAGE) };
  return controlEnvelope(identity, signerId, sessionId ?? new Uint8Array(SESSION_ID_LENGTH), CONTROL_ROUND.ERROR, body);
}
