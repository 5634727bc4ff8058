/**
 * The OpenAPI 3 document of the coordinator's HTTP API, generated from the route
 * table (routes.ts) and the schemas (types.ts): a route, a field or an error code
 * exists in the document because it exists in the contract. Served at
 * GET /v1/openapi.json.
 */
import { errorStatusDescription } from './errors.ts';
import { ROUTES, type Param, type Answer, type Route } from './routes.ts';
import type { ObjectSchema, OpenApiSchema } from './schema.ts';
import { COMPONENTS, ErrorSchema } from './types.ts';

const DESCRIPTION =
  'Threshold key lifecycle: create keys by DKG, derive child public keys, sign (raw messages, or unsigned ethereum, bitcoin and solana transactions that every signer parses and checks against the key policy), refresh, reshare, repair a lost share, retire, and read signers and the audit log. ' +
  'Bytes travel as lowercase hex. Every /v1 route except this document is authenticated per request: the client signs ' +
  'SHA-256(lp("keyquorum/http-request/v1") || lp(METHOD) || lp(path and query) || SHA-256(body) || i64(timestamp ms) || nonce || clientKey) ' +
  'with its Ed25519 key and sends key, timestamp, nonce (16 bytes) and signature in x-keyquorum-* headers; stale timestamps and reused nonces are refused. ' +
  'Reads need any role (admin, signer, auditor); POST and DELETE routes need admin, except sign and sign-tx (admin or signer). ' +
  'Mutations also carry a signed operation request (`request`) that the coordinator and every signer check themselves. ' +
  'DKG, refresh, reshare, repair and retire are awaited by default: the call returns when the session has finished. With ?wait=false the request is checked as usual ' +
  '(refusals answer as when awaited), then the answer is 202 with a running operation and a Location header to poll (GET /v1/operations/{id}). ' +
  'Operations are kept in a bounded in-memory history (the 1000 most recent finished ones, and every running one); after a restart, or once forgotten, ' +
  'GET answers 404 and the key and the audit log, the durable record, tell what happened.';

const SECURITY_SCHEMES = {
  keyquorumKey: { type: 'apiKey', in: 'header', name: 'x-keyquorum-key', description: "The client's Ed25519 public key, hex" },
  keyquorumTimestamp: { type: 'apiKey', in: 'header', name: 'x-keyquorum-timestamp', description: 'Milliseconds since the Unix epoch' },
  keyquorumNonce: { type: 'apiKey', in: 'header', name: 'x-keyquorum-nonce', description: '16 random bytes, hex, never reused' },
  keyquorumSignature: { type: 'apiKey', in: 'header', name: 'x-keyquorum-signature', description: 'Ed25519 signature over the request (see the description), hex' },
} as const;

const json = (schema: OpenApiSchema) => ({ 'application/json': { schema } });

function parameter(p: Param): OpenApiSchema {
  return { name: p.name, in: p.in, required: p.required, ...(p.description === undefined ? {} : { description: p.description }), schema: p.schema.openapi };
}

function response(r: Answer): OpenApiSchema {
  if ('text' in r) return { description: r.description, content: { 'text/plain': { schema: { type: 'string' } } } };
  if (!('schema' in r)) return { description: r.description };
  const headers = r.headers === undefined ? {} : { headers: Object.fromEntries(Object.entries(r.headers).map(([name, h]) => [name, { description: h.description, schema: { type: 'string' } }])) };
  return { description: r.description, ...headers, content: json(r.schema.openapi) };
}

function operation(r: Route): OpenApiSchema {
  const success = Object.entries(r.responses).map(([status, a]) => [status, response(a)]);
  const errors = (r.errors ?? []).map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]);
  return {
    summary: r.summary,
    ...(r.access === 'public' ? { security: [] } : {}),
    ...(r.params === undefined ? {} : { parameters: r.params.map(parameter) }),
    ...(r.body === undefined ? {} : { requestBody: { required: true, content: json(r.body.openapi) } }),
    responses: Object.fromEntries([...success, ...errors]),
  };
}

type Components = typeof COMPONENTS;
/** The named schemas, each with its own OpenAPI form (objects: `required` and `properties`). */
export type ComponentSchemas = { readonly [C in Components[number] as C['name']]: C['schema']['openapi'] };

export interface OpenApiDocument {
  readonly openapi: string;
  readonly info: { readonly title: string; readonly version: string; readonly description: string };
  readonly servers: ReadonlyArray<{ readonly url: string }>;
  readonly security: ReadonlyArray<Readonly<Record<string, readonly string[]>>>;
  readonly paths: Readonly<Record<string, Readonly<Record<string, OpenApiSchema>>>>;
  readonly components: {
    readonly securitySchemes: typeof SECURITY_SCHEMES;
    readonly responses: Readonly<Record<string, OpenApiSchema>>;
    readonly schemas: ComponentSchemas;
  };
}

function buildDocument(): OpenApiDocument {
  const routes: readonly Route[] = Object.values(ROUTES);
  const paths: Record<string, Record<string, OpenApiSchema>> = {};
  for (const r of routes) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  const statuses = [...new Set(routes.flatMap((r) => r.errors ?? []))].sort((a, b) => a - b);
  return {
    openapi: '3.0.3',
    info: { title: 'keyquorum coordinator API', version: '1', description: DESCRIPTION },
    servers: [{ url: 'http://127.0.0.1:7400' }],
    security: [Object.fromEntries(Object.keys(SECURITY_SCHEMES).map((name) => [name, []]))],
    paths,
    components: {
      securitySchemes: SECURITY_SCHEMES,
      responses: Object.fromEntries(statuses.map((s) => [`E${s}`, { description: errorStatusDescription(s), content: json(ErrorSchema.openapi) }])),
      schemas: Object.fromEntries(COMPONENTS.map((c) => [c.name, c.schema.openapi])) as ComponentSchemas,
    },
  };
}

export const OPENAPI_DOCUMENT: OpenApiDocument = buildDocument();
