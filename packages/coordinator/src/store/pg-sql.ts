/**
 * What the PostgreSQL store's parts share: `Queryable`, a pool or one checked-out
 * client (inside a transaction), and the pool's type parsers, which read BIGINT (ms
 * timestamps, sequence numbers, counts) as JavaScript numbers. The values stored there
 * stay below 2^53 (ms since the epoch, row counts), so nothing is lost; each pool gets
 * its own parsers, so no other user of `pg` in the process is affected.
 */
import pg from 'pg';

/** A pool, or the client a transaction runs on. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const INT8_OID = 20;

/** Type parsers for a pool: BIGINT as a number, everything else as `pg` parses it. */
export const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** A BYTEA value (pg reads it as a Buffer) as a plain Uint8Array copy. */
export const bytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);

/** A Uint8Array as a query parameter for a BYTEA column. */
export const blob = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** PostgreSQL's unique_violation SQLSTATE. */
export const UNIQUE_VIOLATION = '23505';
