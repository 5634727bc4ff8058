/**
 * Secret-holding objects redact themselves: `JSON.stringify` and `util.inspect`
 * show '<redacted …>' and never the material (the frost-rs habit of a
 * `Debug` impl that hides the scalar). The hooks are non-enumerable, so structured
 * copies made deliberately (for sealing at rest) still carry the real fields.
 */

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export function redacted<T extends object>(value: T, label: string): T {
  const text = `<redacted ${label}>`;
  Object.defineProperty(value, 'toJSON', { value: () => text, enumerable: false });
  Object.defineProperty(value, INSPECT, { value: () => text, enumerable: false });
  return value;
}
