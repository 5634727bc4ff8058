/**
 * The one place a suite is mapped to its scheme driver (ARCHITECTURE.md "a scheme is a
 * driver on each side plus a registration"). A new scheme is a `schemes/<name>.ts`
 * driver and one line here. Also the share loader every session uses: a keystore row
 * is read with the codec of its own suite.
 */
import { ECDSA_SUITE } from '@keyquorum/protocol';
import { SUITE_IDS } from '@keyquorum/crypto';
import { SignerError } from '../errors.ts';
import type { UnsealedShare } from '../keystore/index.ts';
import { openShare, type HeldShare } from '../held-share.ts';
import type { SchemeDriver } from './driver.ts';
import { ecdsaScheme } from './ecdsa.ts';
import { frost } from './frost.ts';

const SCHEMES: ReadonlyMap<string, SchemeDriver> = new Map([
  ...SUITE_IDS.map((suite): [string, SchemeDriver] => [suite, frost]),
  [ECDSA_SUITE, ecdsaScheme],
]);

/** The driver of `suite`, if this signer has one. */
export function findScheme(suite: string): SchemeDriver | undefined {
  return SCHEMES.get(suite);
}

/** The driver of `suite`; WRONG_SUITE if this signer has none. */
export function schemeFor(suite: string): SchemeDriver {
  const scheme = SCHEMES.get(suite);
  if (scheme === undefined) throw new SignerError('WRONG_SUITE', { field: 'header.suite', message: `unsupported suite ${suite}` });
  return scheme;
}

/** A stored share as the crypto package reads it (checked against its public record). */
export function loadShare(row: UnsealedShare): HeldShare {
  return openShare(row, schemeFor(row.suite));
}

/** Zeroes a loaded share's secrets, as its scheme holds them. */
export function wipeHeldShare(share: HeldShare): void {
  schemeFor(share.suite).wipe(share);
}
