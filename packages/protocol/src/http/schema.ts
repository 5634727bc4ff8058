/**
 * A small schema builder for the HTTP contract (the TypeBox habit, without the
 * dependency). Each builder returns the OpenAPI 3.0 schema object it stands for and,
 * at the type level only, the TypeScript type of the JSON it describes (`JsonOf`) and
 * of that JSON once decoded (`DecodedOf`: hex strings become bytes). One definition
 * therefore gives the OpenAPI document, the types the client and the server compile
 * against, and the server's shape check (`decodeJson`), so a field change is one edit.
 *
 * `decodeJson` checks shape only: a JSON object, no unknown field, every required
 * field present, hex fields decoded, and the JSON type of fields whose schema names
 * an `invalid` message. What values mean (ranges, patterns, membership) the receiver
 * checks, as `Coordinator` does for every caller, HTTP or not.
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { approvalFromJson, type Approval, type ApprovalJson } from '../approval-wire.ts';
import { WireError } from '../errors.ts';
import { MAX_APPROVERS } from '../policy.ts';

/** An OpenAPI 3.0 schema object (plain JSON). */
export type OpenApiSchema = { readonly [key: string]: unknown };

declare const JSON_TYPE: unique symbol;
declare const DECODED_TYPE: unique symbol;

/** How `decodeJson` treats a value: decode hex, recurse into an object, check a JSON type, or pass it on. */
type Decoder =
  | { readonly as: 'hex' }
  | { readonly as: 'object'; readonly props: Readonly<Record<string, Schema>>; readonly required: readonly string[] }
  | { readonly as: 'checked'; readonly type: 'string' | 'array'; readonly invalid: string }
  | { readonly as: 'approvals' }
  | { readonly as: 'value' };

export interface Schema<J = unknown, D = J, O extends OpenApiSchema = OpenApiSchema> {
  readonly openapi: O;
  readonly decoder: Decoder;
  /** Type-level only: the JSON this schema describes. */
  readonly [JSON_TYPE]?: J;
  /** Type-level only: that JSON decoded (hex as bytes). */
  readonly [DECODED_TYPE]?: D;
}

export type JsonOf<S> = S extends Schema<infer J, unknown, OpenApiSchema> ? J : never;
export type DecodedOf<S> = S extends Schema<unknown, infer D, OpenApiSchema> ? D : never;

/** A named schema, referenced as #/components/schemas/<name> wherever it is used. */
export interface Component<N extends string = string, J = unknown, D = J, O extends OpenApiSchema = OpenApiSchema> extends Schema<J, D, { readonly $ref: string }> {
  readonly name: N;
  readonly schema: Schema<J, D, O>;
}

interface Doc {
  description?: string;
  example?: unknown;
  deprecated?: boolean;
}

const make = <J, D = J, O extends OpenApiSchema = OpenApiSchema>(openapi: O, decoder: Decoder = { as: 'value' }): Schema<J, D, O> => ({ openapi, decoder });

/** A string; `invalid` makes the decoder check that it is one, refusing it with that message. */
export const string = (o: Doc & { invalid?: string } = {}): Schema<string> => {
  const { invalid, ...doc } = o;
  return make({ type: 'string', ...doc }, invalid === undefined ? undefined : { as: 'checked', type: 'string', invalid });
};

/** One of the listed strings, integers or booleans. */
export const oneOf = <const V extends string | number | boolean>(values: readonly V[], o: Doc & { default?: V } = {}): Schema<V> =>
  make({ type: typeof values[0] === 'number' ? 'integer' : typeof values[0], enum: [...values], ...o });

export const integer = (o: Doc & { minimum?: number; maximum?: number } = {}): Schema<number> => make({ type: 'integer', ...o });
export const boolean = (o: Doc = {}): Schema<boolean> => make({ type: 'boolean', ...o });

/** Bytes as lowercase hex in JSON, decoded to a Uint8Array. */
export const hex = (description: string): Schema<string, Uint8Array> => make({ type: 'string', pattern: '^[0-9a-f]*$', description }, { as: 'hex' });

export const nullable = <J, D>(s: Schema<J, D>): Schema<J | null, D | null> => make({ ...s.openapi, nullable: true }, s.decoder);

/** An array; `invalid` makes the decoder check that it is one, refusing it with that message. */
export const array = <J, D>(items: Schema<J, D>, o: Doc & { invalid?: string } = {}): Schema<J[], D[]> => {
  const { invalid, ...doc } = o;
  return make({ type: 'array', items: items.openapi, ...doc }, invalid === undefined ? undefined : { as: 'checked', type: 'array', invalid });
};

/** A JSON object keyed by arbitrary strings. */
export const record = <J>(values: Schema<J>, o: Doc = {}): Schema<Record<string, J>> => make({ type: 'object', additionalProperties: values.openapi, ...o });

/** Any JSON object (its members are described elsewhere, or free). */
/** Approvals in their JSON form (approval-wire.ts `ApprovalJson`), decoded to `Approval`s. */
export const approvals = (o: Doc = {}): Schema<ApprovalJson[], Approval[]> => make({ type: 'array', items: { type: 'object' }, maxItems: MAX_APPROVERS, ...o }, { as: 'approvals' });
export const anyObject = (o: Doc = {}): Schema<Record<string, unknown>> => make({ type: 'object', ...o });

/** One of several schemas (OpenAPI `oneOf`). */
export const union = <S extends readonly Schema[]>(schemas: S, o: Doc = {}): Schema<JsonOf<S[number]>, DecodedOf<S[number]>> =>
  make({ oneOf: schemas.map((s) => s.openapi), ...o });

type Props = Readonly<Record<string, Schema>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type JsonObject<P extends Props, Opt extends keyof P> = Simplify<{ [K in Exclude<keyof P, Opt>]: JsonOf<P[K]> } & { [K in Opt]?: JsonOf<P[K]> }>;
type DecodedObject<P extends Props, Opt extends keyof P> = Simplify<{ [K in Exclude<keyof P, Opt>]: DecodedOf<P[K]> } & { [K in Opt]?: DecodedOf<P[K]> }>;

/** The OpenAPI form of `object(...)`: `properties`, and `required` unless empty (OpenAPI 3.0 wants at least one). */
export interface ObjectSchema extends OpenApiSchema {
  readonly type: 'object';
  readonly required: readonly string[];
  readonly properties: Readonly<Record<string, OpenApiSchema>>;
}
type ObjectDoc<P extends Props, Opt extends keyof P> = [Exclude<keyof P, Opt>] extends [never] ? Omit<ObjectSchema, 'required'> : ObjectSchema;

/**
 * An object with these properties, all required but `optional`. `closed`: unknown
 * fields are refused (request bodies); answers stay open so fields can be added.
 */
export function object<P extends Props, const Opt extends keyof P & string = never>(
  props: P,
  o: Doc & { optional?: readonly Opt[]; closed?: boolean } = {},
): Schema<JsonObject<P, Opt>, DecodedObject<P, Opt>, ObjectDoc<P, Opt>> {
  const { optional = [], closed = false, ...doc } = o;
  const required = Object.keys(props).filter((k) => !(optional as readonly string[]).includes(k));
  const properties = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, s.openapi]));
  const openapi = { type: 'object', ...doc, ...(closed ? { additionalProperties: false } : {}), ...(required.length === 0 ? {} : { required }), properties } as const;
  return make<JsonObject<P, Opt>, DecodedObject<P, Opt>, ObjectDoc<P, Opt>>(openapi as ObjectDoc<P, Opt>, { as: 'object', props, required });
}

/** Names `schema` as a component; where used it is a $ref, decoded as `schema`. */
export function component<const N extends string, J, D, O extends OpenApiSchema>(name: N, schema: Schema<J, D, O>): Component<N, J, D, O> {
  return { name, schema, openapi: { $ref: `#/components/schemas/${name}` }, decoder: schema.decoder };
}

const bad = (field: string, message: string) => new WireError('BAD_FIELD', { field, message: `${field}: ${message}` });

/** 'body' + 'k' -> 'k' (a body's fields are named alone); 'request' + 'sig' -> 'request.sig'. */
const child = (field: string, key: string) => (field === 'body' ? key : `${field}.${key}`);

/**
 * Checks the shape of parsed JSON against `schema` and decodes its hex fields;
 * refuses with WireError BAD_FIELD naming the field ('body' for the whole body).
 */
export function decodeJson<S extends Schema>(schema: S, v: unknown, field: string): DecodedOf<S> {
  return decodeWith(schema.decoder, v, field) as DecodedOf<S>;
}

function decodeWith(d: Decoder, v: unknown, field: string): unknown {
  switch (d.as) {
    case 'value':
      return v;
    case 'approvals':
      if (!Array.isArray(v) || v.length > MAX_APPROVERS) throw bad(field, `expected an array of at most ${MAX_APPROVERS} approvals`);
      return v.map((a, i) => approvalFromJson(a, `${field}[${i}]`));
    case 'hex':
      if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(v)) throw bad(field, 'expected hex bytes');
      return hexToBytes(v.toLowerCase());
    case 'checked':
      if (v !== undefined && (d.type === 'array' ? !Array.isArray(v) : typeof v !== 'string')) throw bad(field, d.invalid);
      return v;
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'expected a JSON object');
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!Object.hasOwn(d.props, k)) throw bad(child(field, k), 'unknown field');
      for (const k of d.required) if (o[k] === undefined) throw bad(child(field, k), 'missing');
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(d.props)) if (o[k] !== undefined) out[k] = decodeWith(s.decoder, o[k], child(field, k));
      return out;
    }
  }
}
