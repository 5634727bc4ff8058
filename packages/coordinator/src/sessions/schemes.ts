/**
 * The registration of signature schemes: each key suite's driver. This is the one
 * place the coordinator chooses by suite; a new scheme is one driver file
 * (see scheme-driver.ts) plus its suites' lines here.
 */
import { ECDSA_SUITE, type KeySuiteId } from '@keyquorum/protocol';
import { ECDSA_DRIVER } from './ecdsa-attempt.ts';
import { FROST_DRIVER } from './frost-attempt.ts';
import type { SchemeDriver } from './scheme-driver.ts';

const SCHEMES: Readonly<Record<KeySuiteId, SchemeDriver>> = {
  'frost-secp256k1-tr': FROST_DRIVER,
  'frost-ed25519': FROST_DRIVER,
  'frost-secp256k1': FROST_DRIVER,
  [ECDSA_SUITE]: ECDSA_DRIVER,
};

/** The driver of a key's suite. */
export function schemeOf(suite: KeySuiteId): SchemeDriver {
  return SCHEMES[suite];
}
