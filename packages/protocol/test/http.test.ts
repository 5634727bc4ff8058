import { describe, expect, it } from 'vitest';
import {
  API_ERRORS,
  OPENAPI_DOCUMENT,
  ROUTES,
  SignBodySchema,
  decodeJson,
  errorStatusDescription,
  generateIdentity,
  httpStatusOf,
  keyToJson,
  parseRequestJson,
  requestToJson,
  signClientRequest,
  targetOf,
} from '../src/index.ts';
import { expectWireError } from './helpers.ts';

describe('the HTTP contract', () => {
  it('answers every error status a route documents with at least one error code', () => {
    const statuses = new Set(Object.values(API_ERRORS));
    for (const r of Object.values(ROUTES)) for (const s of 'errors' in r ? r.errors : []) expect([r.path, s, statuses.has(s)]).toEqual([r.path, s, true]);
    expect(errorStatusDescription(409)).toBe('KEY_EXISTS, WRONG_STATE, WRONG_KEY_STATE, OPERATION_EXPIRED or BUSY');
    expect([httpStatusOf('UNKNOWN_KEY'), httpStatusOf('BAD_CONFIG')]).toEqual([404, 500]);
  });

  it('names the suite of a key, with scheme as its deprecated alias of the same value', () => {
    const key = keyToJson({ id: 'k', suite: 'frost-ed25519', threshold: 2, participants: [{ signer: 's1', index: 1 }], publicKey: undefined, groupKey: undefined, epoch: 0, state: 'pending' });
    expect(key).toMatchObject({ suite: 'frost-ed25519', scheme: 'frost-ed25519', signers: ['s1'], publicKey: null });
    expect(OPENAPI_DOCUMENT.components.schemas.Key.properties.scheme).toMatchObject({ deprecated: true });
  });

  it('round-trips a signed request through its JSON and names a missing or non-hex field', () => {
    const r = signClientRequest(generateIdentity(), { op: 'sign', keyId: 'k', digest: new Uint8Array(32) });
    expect(parseRequestJson(requestToJson(r))).toEqual(r);
    expectWireError(() => parseRequestJson({ ...requestToJson(r), sig: undefined }), 'BAD_FIELD', 'request.sig');
    expectWireError(() => parseRequestJson({ ...requestToJson(r), nonce: 'xyz' }), 'BAD_FIELD', 'request.nonce');
  });

  it('decodes a body against its schema: unknown fields named, hex decoded, meaning left to the receiver', () => {
    const request = requestToJson(signClientRequest(generateIdentity(), { op: 'sign', keyId: 'k', digest: new Uint8Array(32) }));
    expect(decodeJson(SignBodySchema, { message: 'ab', request, taproot: {} }, 'body')).toMatchObject({ message: new Uint8Array([0xab]), taproot: {} });
    expectWireError(() => decodeJson(SignBodySchema, { message: 'ab', request, extra: 1 }, 'body'), 'BAD_FIELD', 'extra');
    expectWireError(() => decodeJson(SignBodySchema, { message: 'ab', request, taproot: { tweak: 1 } }, 'body'), 'BAD_FIELD', 'taproot.tweak');
    expectWireError(() => decodeJson(SignBodySchema, { message: 'ab', request, path: 7 }, 'body'), 'BAD_FIELD', 'path');
  });

  it('builds call targets from the route table with URL-encoded segments and query', () => {
    expect(targetOf(ROUTES.deriveKey, { id: 'a/b' }, { path: 'm/0' })).toBe('/v1/keys/a%2Fb/derive?path=m%2F0');
    expect(targetOf(ROUTES.audit, {}, { key: undefined })).toBe('/v1/audit');
  });
});
