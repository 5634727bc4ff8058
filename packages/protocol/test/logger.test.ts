import { describe, expect, it } from 'vitest';
import { REDACTED, REDACTED_FIELDS, createLogger, type LogFields } from '../src/logger.ts';

function capture(level: 'debug' | 'info' = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = createLogger({
    level,
    write: (line) => {
      raw.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { log, lines, raw };
}

describe('logger', () => {
  it('writes one JSON object per line with level, time, msg and the fields', () => {
    const { log, lines, raw } = capture();
    log.info('connected', { signer: 's1', epoch: 3, quorum: ['s1', 's2'], ok: true, gone: undefined });
    expect(raw[0]!.endsWith('}\n')).toBe(true);
    expect(lines).toEqual([{ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), msg: 'connected', signer: 's1', epoch: 3, quorum: ['s1', 's2'], ok: true }]);
  });

  it('drops lines below its level', () => {
    const { log, lines } = capture('info');
    log.debug('noise');
    log.warn('kept');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['warn', 'kept']]);
  });

  it('binds child fields to every line, and call fields win', () => {
    const { log, lines } = capture();
    const session = log.child({ signer: 's1' }).child({ session: 'ab', keyId: 'k1', epoch: 2 });
    session.warn('aborted', { epoch: 3, culprits: ['s2'] });
    expect(lines[0]).toMatchObject({ level: 'warn', signer: 's1', session: 'ab', keyId: 'k1', epoch: 3, culprits: ['s2'], msg: 'aborted' });
  });

  it('redacts every field named like secret material, in call fields and child bindings', () => {
    const { log, lines, raw } = capture();
    const secrets = Object.fromEntries(REDACTED_FIELDS.map((name) => [name, `SECRET-${name}`]));
    log.child({ passphrase: 'SECRET-bound' }).error('oops', { ...secrets, keyId: 'k1' });
    expect(raw.join('')).not.toContain('SECRET');
    expect(lines[0]).toMatchObject({ keyId: 'k1', passphrase: REDACTED, share: REDACTED, nonce: REDACTED, signingShare: REDACTED });
  });

  it('never prints the bytes of a Uint8Array or Buffer, nor an object, whatever the field is called', () => {
    const { log, lines, raw } = capture();
    const bytes = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
    const sneaky = { blob: bytes, buf: Buffer.from(bytes), obj: { inner: 'x' }, nums: [222, 173] } as unknown as LogFields;
    log.child(sneaky).info('bound');
    log.info('fields', sneaky);
    expect(raw.join('')).not.toMatch(/222|173|deadbeef|inner/);
    for (const l of lines) expect(l).toMatchObject({ blob: REDACTED, buf: REDACTED, obj: REDACTED, nums: REDACTED });
  });
});
