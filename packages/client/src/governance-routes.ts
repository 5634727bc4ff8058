/**
 * The governance routes of the HTTP API as docs/governance.md names them, until the
 * coordinator's entries land in `ROUTES` (@keyquorum/protocol http/routes.ts).
 */
import type { Route, Schema } from '@keyquorum/protocol';

const json: Schema<Record<string, unknown>> = { openapi: { type: 'object' }, decoder: { as: 'value' } };
const text: Schema<string> = { openapi: { type: 'string' }, decoder: { as: 'value' } };
const any = { description: 'JSON', schema: json };
const id = { name: 'id', in: 'path', required: true, schema: text } as const;

export const GOVERNANCE_ROUTES = {
  getPolicy: { method: 'GET', path: '/v1/keys/{id}/policy', summary: 'policy', params: [id], responses: { 200: any } },
  setPolicy: { method: 'POST', path: '/v1/keys/{id}/policy', summary: 'set policy', params: [id], responses: { 200: any, 202: any } },
  listOperations: { method: 'GET', path: '/v1/operations', summary: 'operations', params: [{ name: 'state', in: 'query', required: false, schema: text }], responses: { 200: any } },
  approve: { method: 'POST', path: '/v1/operations/{id}/approve', summary: 'approve', params: [id], responses: { 200: any } },
} as const satisfies Record<string, Route>;
