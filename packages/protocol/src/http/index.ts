/**
 * The HTTP contract between the coordinator and its clients: request-level
 * authentication (auth.ts), the routes (routes.ts), the JSON types (types.ts), the
 * mappers between JSON and values (mappers.ts), the error codes with their statuses
 * (errors.ts) and the OpenAPI document generated from all of it (openapi.ts).
 */
export * from './auth.ts';
export * from './errors.ts';
export * from './mappers.ts';
export * from './openapi.ts';
export * from './routes.ts';
export * from './types.ts';
export { decodeJson, type Component, type DecodedOf, type JsonOf, type ObjectSchema, type OpenApiSchema, type Schema } from './schema.ts';
