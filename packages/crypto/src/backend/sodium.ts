/**
 * libsodium compiled to WebAssembly (libsodium-wrappers-sumo 0.8.x), loaded once for
 * the X25519 and Ed25519 backends. Its WebAssembly is instantiated by a promise, so the
 * library is usable only after `sodiumReady` has settled; until then (or where it cannot
 * load) `sodium()` is undefined and the backends answer with noble. Each backend checks
 * its functions against noble before switching to them.
 */
import { createRequire } from 'node:module';

/** The libsodium-wrappers functions the backends use (Uint8Array in, Uint8Array out; throw on -1). */
export interface Sodium {
  ready: Promise<void>;
  crypto_scalarmult_base(secret: Uint8Array): Uint8Array;
  crypto_scalarmult(secret: Uint8Array, u: Uint8Array): Uint8Array;
  crypto_scalarmult_ed25519_base_noclamp(n: Uint8Array): Uint8Array;
  crypto_scalarmult_ed25519_noclamp(n: Uint8Array, p: Uint8Array): Uint8Array;
  crypto_core_ed25519_add(p: Uint8Array, q: Uint8Array): Uint8Array;
}

let lib: Sodium | undefined;

async function load(): Promise<Sodium | undefined> {
  try {
    const l = createRequire(import.meta.url)('libsodium-wrappers-sumo') as Sodium;
    await l.ready;
    lib = l;
  } catch {
    // No libsodium here: the backends stay on noble.
  }
  return lib;
}

/** Settles (never rejects) once libsodium has loaded, or failed to. */
export const sodiumReady: Promise<Sodium | undefined> = load();

/** The loaded library, or undefined before readiness or where it cannot load. */
export function sodium(): Sodium | undefined {
  return lib;
}
