import { describe, expect, it } from 'vitest';
import {
  cleanMessage,
  hiddenFields,
  REDACTED,
  redactDeep,
  redactorFor,
} from '../../../lambdas/shared/redact';

/** The redactor every step's results and errors pass through: what it hides, and what it must not. */

const KEY = 'k3y/With+Slash=andMore';

describe('redactorFor', () => {
  it.each([
    ['as given', KEY],
    ['in base64', Buffer.from(KEY).toString('base64')],
    ['in base64url', Buffer.from(KEY).toString('base64url')],
    [
      'inside a longer base64 text, at any alignment',
      Buffer.from(`xy${KEY}zz`).toString('base64').slice(4, -4),
    ],
    ['as HTTP Basic sends a key with an empty password', Buffer.from(`${KEY}:`).toString('base64')],
    ['URL-encoded, upper-case hex', encodeURIComponent(KEY)],
    [
      'URL-encoded, lower-case hex',
      encodeURIComponent(KEY).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    ],
    ['JSON-escaped with \\/', JSON.stringify(KEY).slice(1, -1).replaceAll('/', '\\/')],
  ])('hides the secret %s', (_how, form) => {
    const redact = redactorFor({ apiKey: KEY });
    expect(redact(`the vendor said: ${form}.`)).not.toContain(form);
  });

  it('hides a password in the Basic pair with its user, but not the user name itself', () => {
    const redact = redactorFor({ username: 'admin', password: 'hunter2-secret' });
    const basic = Buffer.from('admin:hunter2-secret').toString('base64');
    expect(redact(`Authorization: Basic ${basic}`)).toBe(`Authorization: Basic ${REDACTED}`);
    // A record that merely contains the user name is not touched: it may be written back.
    expect(redactDeep({ role: { id: 'site-admin' } }, redact)).toEqual({ role: { id: 'site-admin' } });
  });

  it('hides a client secret but not the client id or the token URL', () => {
    const redact = redactorFor({
      clientId: 'offboard-m2m',
      clientSecret: 'cs-9f2c71aa',
      tokenUrl: 'https://t.example/token',
    });
    expect(redact('client offboard-m2m at https://t.example/token with cs-9f2c71aa')).toBe(
      `client offboard-m2m at https://t.example/token with ${REDACTED}`,
    );
  });

  it('strips control characters before redacting, so a secret with an escape spliced in is still found', () => {
    const redact = redactorFor({ apiKey: 'abcd1234efgh' });
    expect(cleanMessage('key abcd\u200e1234efgh', redact)).toBe(`key ${REDACTED}`);
    expect(cleanMessage('key abcd\u00001234efgh', redact)).toBe(`key ${REDACTED}`);
  });
});

describe('hiddenFields', () => {
  it('names every field of a before-state that redaction changed, at any depth, and nothing else', () => {
    const redact = redactorFor({ password: 'security' });
    const before = redactDeep(
      {
        role: { id: 'security-manager', name: 'Security Manager' },
        sites: ['security-lab', 'hq'],
        login: 'jdoe',
      },
      redact,
    );
    expect(hiddenFields(before)).toEqual(['role.id', 'sites.0']);
    expect(hiddenFields({ login: 'jdoe', enabled: false, sites: [1, 2] })).toEqual([]);
  });
});
