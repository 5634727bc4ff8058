/**
 * The OpenAPI 3 description of the coordinator's HTTP API, served at
 * GET /v1/openapi.json. A test (packages/coordinator/test/openapi.test.ts) checks that every route the
 * router serves is described here and that nothing else is.
 */

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const ok = (description: string, schema: object) => ({ description, content: json(schema) });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const keyParam = { name: 'id', in: 'path', required: true, description: 'Key id (/^[A-Za-z0-9._-]{1,128}$/)', schema: { type: 'string' } };
const hex = (description: string) => ({ type: 'string', pattern: '^[0-9a-f]*$', description });
const requestBody = (schema: object) => ({ required: true, content: json(schema) });
const OPERATION_ERRORS = [400, 401, 403, 404, 409, 413, 500, 503];
const waitParam = {
  name: 'wait',
  in: 'query',
  required: false,
  description: "'false': check the request, start the session and answer 202 with the running operation to poll at its Location; default 'true': answer when the session has finished",
  schema: { type: 'string', enum: ['true', 'false'], default: 'true' },
};
const accepted = {
  description: 'With wait=false: the session started; poll GET /v1/operations/{id}',
  headers: { Location: { description: '/v1/operations/{id}', schema: { type: 'string' } } },
  content: json({ type: 'object', required: ['operation'], properties: { operation: ref('Operation') } }),
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'keyquorum coordinator API',
    version: '1',
    description:
      'Threshold key lifecycle: create keys by DKG, derive child public keys, sign, refresh, reshare, retire, and read signers and the audit log. ' +
      'Bytes travel as lowercase hex. Every /v1 route except this document is authenticated per request: the client signs ' +
      'SHA-256(lp("keyquorum/http-request/v1") || lp(METHOD) || lp(path and query) || SHA-256(body) || i64(timestamp ms) || nonce || clientKey) ' +
      'with its Ed25519 key and sends key, timestamp, nonce (16 bytes) and signature in x-keyquorum-* headers; stale timestamps and reused nonces are refused. ' +
      'Reads need any role (admin, signer, auditor); POST and DELETE routes need admin, except sign (admin or signer). ' +
      'Mutations also carry a signed operation request (`request`) that the coordinator and every signer check themselves. ' +
      'DKG, refresh, reshare and retire are awaited by default: the call returns when the session has finished. With ?wait=false the request is checked as usual ' +
      '(refusals answer as when awaited), then the answer is 202 with a running operation and a Location header to poll (GET /v1/operations/{id}). ' +
      'Operations are kept in a bounded in-memory history (the 1000 most recent finished ones, and every running one); after a restart, or once forgotten, ' +
      'GET answers 404 and the key and the audit log, the durable record, tell what happened.',
  },
  servers: [{ url: 'http://127.0.0.1:7400' }],
  security: [{ keyquorumKey: [], keyquorumTimestamp: [], keyquorumNonce: [], keyquorumSignature: [] }],
  paths: {
    '/healthz': {
      get: { summary: 'Process up', security: [], responses: { '200': ok('Up', { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } }) } },
    },
    '/readyz': {
      get: {
        summary: 'Ready: started, the registry accepts writes, and at least as many signers connected as the smallest threshold among active keys (2 without one)',
        security: [],
        responses: { '200': ok('Ready', ref('Readiness')), '503': ok('Not ready', ref('Readiness')) },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Prometheus text exposition', content: { 'text/plain': { schema: { type: 'string' } } } } } },
    },
    '/v1/openapi.json': {
      get: { summary: 'This document', security: [], responses: { '200': ok('OpenAPI 3 document', { type: 'object' }) } },
    },
    '/v1/keys': {
      get: { summary: 'List keys', responses: { '200': ok('Keys', { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: ref('Key') } } }), ...errors(401, 403) } },
      post: {
        summary: 'Create a key by distributed key generation (admin)',
        parameters: [waitParam],
        requestBody: requestBody({
          type: 'object',
          additionalProperties: false,
          required: ['keyId', 'suite', 'threshold', 'request'],
          properties: {
            keyId: { type: 'string' },
            suite: { type: 'string', enum: ['frost-secp256k1-tr', 'frost-ed25519', 'frost-secp256k1', 'ecdsa-secp256k1'] },
            threshold: { type: 'integer', minimum: 2 },
            signers: { type: 'array', items: { type: 'string' }, description: 'Participants in DKG order; default every connected signer' },
            request: ref('ClientRequest'),
          },
        }),
        responses: { '201': ok('The active key', ref('Key')), '202': accepted, ...errors(...OPERATION_ERRORS) },
      },
    },
    '/v1/keys/{id}': {
      get: { summary: 'One key', parameters: [keyParam], responses: { '200': ok('The key', ref('Key')), ...errors(400, 401, 403, 404) } },
    },
    '/v1/keys/{id}/derive': {
      get: {
        summary: 'Child public key at a non-hardened path (no signer involved)',
        parameters: [keyParam, { name: 'path', in: 'query', required: true, schema: { type: 'string', example: 'm/44/0/7' } }],
        responses: { '200': ok('The child key', ref('DerivedKey')), ...errors(400, 401, 403, 404, 409) },
      },
    },
    '/v1/keys/{id}/sign': {
      post: {
        summary: 'Threshold-sign a message (admin or signer)',
        parameters: [keyParam],
        requestBody: requestBody({
          type: 'object',
          additionalProperties: false,
          required: ['message', 'request'],
          properties: {
            message: hex('The message, usually a 32-byte digest'),
            path: { type: 'string', example: 'm/44/0/7' },
            taproot: { type: 'object', additionalProperties: false, properties: { merkleRoot: hex('32-byte script tree root') }, description: 'frost-secp256k1-tr only; {} = key-path only' },
            request: ref('ClientRequest'),
          },
        }),
        responses: { '200': ok('The signature', ref('Signature')), ...errors(...OPERATION_ERRORS) },
      },
    },
    '/v1/keys/{id}/refresh': {
      post: {
        summary: 'Refresh every share: epoch + 1, same public key (admin)',
        parameters: [keyParam, waitParam],
        requestBody: requestBody({ type: 'object', additionalProperties: false, required: ['request'], properties: { request: ref('ClientRequest') } }),
        responses: { '200': ok('The key at its new epoch', ref('Key')), '202': accepted, ...errors(...OPERATION_ERRORS) },
      },
    },
    '/v1/keys/{id}/reshare': {
      post: {
        summary: 'Move the key to a new signer set and/or threshold under the same public key: epoch + 1 (admin)',
        parameters: [keyParam, waitParam],
        requestBody: requestBody({
          type: 'object',
          additionalProperties: false,
          required: ['signers', 'threshold', 'request'],
          properties: {
            signers: { type: 'array', items: { type: 'string' }, description: 'The new signer set, numbered 1..n in this order' },
            threshold: { type: 'integer', minimum: 2 },
            request: ref('ClientRequest'),
          },
        }),
        responses: { '200': ok('The key with its new signers, threshold and epoch', ref('Key')), '202': accepted, ...errors(...OPERATION_ERRORS) },
      },
    },
    '/v1/keys/{id}/retire': {
      post: {
        summary: 'Retire the key; signers destroy their shares and attest it (admin)',
        parameters: [keyParam, waitParam],
        requestBody: requestBody({ type: 'object', additionalProperties: false, required: ['request'], properties: { request: ref('ClientRequest') } }),
        responses: {
          '200': ok('The retired key and the destruction attestations received', ref('Retirement')),
          '202': accepted,
          ...errors(...OPERATION_ERRORS),
        },
      },
    },
    '/v1/keys/{id}/bans': {
      get: {
        summary: "Signers banned from the key's sessions (caught cheating: a signature share that does not verify; ecdsa-secp256k1: named by a consistency check)",
        parameters: [keyParam],
        responses: { '200': ok('Bans', { type: 'object', required: ['bans'], properties: { bans: { type: 'array', items: ref('Ban') } } }), ...errors(400, 401, 403, 404) },
      },
    },
    '/v1/keys/{id}/bans/{signer}': {
      delete: {
        summary: "Lift a signer's ban for the key (admin); audited as 'signer.unbanned'. Each signer keeps its own bans: clear those with `keyquorum-signer unban`",
        parameters: [keyParam, { name: 'signer', in: 'path', required: true, description: 'The banned signer id', schema: { type: 'string' } }],
        responses: { '204': { description: 'Ban lifted' }, ...errors(400, 401, 403, 404) },
      },
    },
    '/v1/operations/{id}': {
      get: {
        summary: 'A long operation started with wait=false: running, succeeded (with its result) or failed (with its error)',
        parameters: [{ name: 'id', in: 'path', required: true, description: 'The operation id (from the 202 answer or its Location)', schema: { type: 'string' } }],
        responses: { '200': ok('The operation', ref('Operation')), ...errors(401, 403, 404) },
      },
    },
    '/v1/signers': {
      get: { summary: 'Allow-listed signers, their connection state and the epoch each holds per key', responses: { '200': ok('Signers', { type: 'object', required: ['signers'], properties: { signers: { type: 'array', items: ref('SignerStatus') } } }), ...errors(401, 403) } },
    },
    '/v1/audit': {
      get: {
        summary: 'The hash-chained audit log and its verification',
        parameters: [{ name: 'key', in: 'query', required: false, description: "Only this key's entries", schema: { type: 'string' } }],
        responses: {
          '200': ok('Entries', { type: 'object', required: ['entries', 'verification'], properties: { entries: { type: 'array', items: ref('AuditEntry') }, verification: { type: 'object' } } }),
          ...errors(401, 403),
        },
      },
    },
  },
  components: {
    securitySchemes: {
      keyquorumKey: { type: 'apiKey', in: 'header', name: 'x-keyquorum-key', description: "The client's Ed25519 public key, hex" },
      keyquorumTimestamp: { type: 'apiKey', in: 'header', name: 'x-keyquorum-timestamp', description: 'Milliseconds since the Unix epoch' },
      keyquorumNonce: { type: 'apiKey', in: 'header', name: 'x-keyquorum-nonce', description: '16 random bytes, hex, never reused' },
      keyquorumSignature: { type: 'apiKey', in: 'header', name: 'x-keyquorum-signature', description: 'Ed25519 signature over the request (see the description), hex' },
    },
    responses: Object.fromEntries(
      [
        [400, 'BAD_REQUEST: malformed JSON, wrong types, unknown fields'],
        [401, 'UNAUTHENTICATED: missing or bad request signature, stale timestamp, replayed nonce'],
        [403, 'UNAUTHORISED: client key not trusted, or its roles do not allow this'],
        [404, 'UNKNOWN_KEY or NOT_FOUND'],
        [409, 'KEY_EXISTS, WRONG_STATE or BUSY'],
        [413, 'PAYLOAD_TOO_LARGE'],
        [500, 'TIMEOUT, SESSION_FAILED or INTERNAL'],
        [503, 'NOT_ENOUGH_SIGNERS or NOT_STARTED'],
      ].map(([status, description]) => [`E${status}`, { description, content: json(ref('Error')) }]),
    ),
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' }, culprits: { type: 'array', items: { type: 'string' } } },
          },
        },
      },
      Key: {
        type: 'object',
        required: ['id', 'scheme', 'threshold', 'signers', 'publicKey', 'groupKey', 'epoch', 'state'],
        properties: {
          id: { type: 'string' },
          scheme: { type: 'string' },
          threshold: { type: 'integer' },
          signers: { type: 'array', items: { type: 'string' } },
          publicKey: { ...hex('32-byte x-only (frost-secp256k1-tr), 32 bytes (frost-ed25519), 33-byte compressed (frost-secp256k1); null while pending'), nullable: true },
          groupKey: { ...hex('The group key as an encoded point (33-byte compressed on secp256k1), which a reshare request signs; null while pending'), nullable: true },
          epoch: { type: 'integer' },
          state: { type: 'string', enum: ['pending', 'active', 'retired'] },
        },
      },
      DerivedKey: { type: 'object', required: ['publicKey', 'chainCode', 'path'], properties: { publicKey: hex('External child key'), chainCode: hex('32 bytes'), path: { type: 'string' } } },
      Signature: {
        type: 'object',
        required: ['signature', 'publicKey'],
        properties: {
          signature: hex('64 bytes (BIP340 / RFC 8032; ecdsa-secp256k1: r || s with s low) or 65 (RFC 9591)'),
          publicKey: hex('Key that verifies it (33-byte compressed for ecdsa-secp256k1)'),
          recoveryId: { type: 'integer', minimum: 0, maximum: 3, description: 'ecdsa-secp256k1 only: recovery id (Ethereum v = 27 + recoveryId)' },
        },
      },
      Attestation: {
        type: 'object',
        required: ['signer', 'epoch', 'destroyedAt', 'verifyingShare', 'envelope'],
        properties: { signer: { type: 'string' }, epoch: { type: 'integer' }, destroyedAt: { type: 'integer' }, verifyingShare: hex('The destroyed share\'s verifying share'), envelope: hex("The signer's signed ATTEST envelope") },
      },
      SignerStatus: {
        type: 'object',
        required: ['id', 'connected', 'lastSeen', 'epochs'],
        properties: {
          id: { type: 'string' },
          connected: { type: 'boolean' },
          lastSeen: { type: 'integer', nullable: true, description: 'ms since the Unix epoch of the last frame or pong; null if not seen since the coordinator started' },
          epochs: {
            type: 'object',
            additionalProperties: { type: 'integer', minimum: 0 },
            description: "Per key id, the epoch of the share this signer holds: the last commit it acknowledged. A key is absent before the signer's first acknowledgement and after it left the key or destroyed its share",
            example: { 'hot-1': 2 },
          },
        },
      },
      Ban: {
        type: 'object',
        required: ['signer', 'reason', 'at'],
        properties: { signer: { type: 'string' }, reason: { type: 'string' }, at: { type: 'integer', description: 'ms since the Unix epoch when the ban was recorded' } },
      },
      AuditEntry: {
        type: 'object',
        required: ['seq', 'ts', 'event', 'keyId', 'data', 'prevHash', 'hash'],
        properties: { seq: { type: 'integer' }, ts: { type: 'integer' }, event: { type: 'string' }, keyId: { type: 'string', nullable: true }, data: { type: 'object' }, prevHash: hex(''), hash: hex('') },
      },
      Readiness: {
        type: 'object',
        required: ['ready', 'registryWritable', 'signersConnected', 'signersNeeded'],
        properties: {
          ready: { type: 'boolean' },
          registryWritable: { type: 'boolean' },
          signersConnected: { type: 'integer' },
          signersNeeded: { type: 'integer', description: 'The smallest threshold among active keys; 2 when there is none' },
          reason: { type: 'string', description: 'Why not ready; absent when ready' },
        },
      },
      Retirement: {
        type: 'object',
        required: ['key', 'attestations'],
        properties: { key: ref('Key'), attestations: { type: 'array', items: ref('Attestation') } },
      },
      Operation: {
        type: 'object',
        required: ['id', 'kind', 'keyId', 'state', 'startedAt'],
        properties: {
          id: { type: 'string' },
          kind: { type: 'string', enum: ['createKey', 'refresh', 'reshare', 'retire'] },
          keyId: { type: 'string' },
          state: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
          startedAt: { type: 'integer', description: 'ms since the Unix epoch' },
          finishedAt: { type: 'integer', description: 'ms since the Unix epoch; absent while running' },
          result: { description: "When succeeded: what the awaited call answers (a Key; a Retirement for retire)", oneOf: [ref('Key'), ref('Retirement')] },
          error: {
            type: 'object',
            description: 'When failed: the error the awaited call would have answered',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' }, culprits: { type: 'array', items: { type: 'string' } } },
          },
        },
      },
      ClientRequest: {
        type: 'object',
        description: 'The operation-level authorisation every signer checks: Ed25519 over (v, op, keyId, digest of exactly the parameters, timestamp, nonce, clientKey)',
        additionalProperties: false,
        required: ['v', 'op', 'keyId', 'digest', 'timestamp', 'nonce', 'clientKey', 'sig'],
        properties: {
          v: { type: 'integer', enum: [1] },
          op: { type: 'string', enum: ['createKey', 'sign', 'refresh', 'reshare', 'retire', 'repair'] },
          keyId: { type: 'string' },
          digest: hex('32 bytes'),
          timestamp: { type: 'integer' },
          nonce: hex('16 bytes'),
          clientKey: hex('32 bytes'),
          sig: hex('64 bytes'),
        },
      },
    },
  },
} as const;
