import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signTaskLink, taskLinks, verifyTaskLink } from '../../../lambdas/shared/task-links';

/** The links in a task email: a signed, expiring reference to one answer of one task. */

const key = randomBytes(32);
const link = {
  id: 'Zm9vYmFyYmF6cXV4cXV1eA',
  answer: 'done' as const,
  expires: Date.parse('2026-11-08T14:00:00Z'),
};
const before = Date.parse('2026-11-01T09:00:00Z');

describe('task links', () => {
  it('a link as sent verifies, and says which task and answer', () => {
    expect(verifyTaskLink(signTaskLink(link, key), key, before)).toEqual({ ok: true, link });
  });

  it('a link whose answer was changed from done to failed is tampered', () => {
    const signed = signTaskLink(link, key);
    expect(verifyTaskLink(signed.replace('.d.', '.f.'), key, before)).toEqual({
      ok: false,
      problem: 'tampered',
    });
  });

  it('a link for another task id, or signed with another key, is tampered', () => {
    const signed = signTaskLink(link, key);
    expect(verifyTaskLink(signed.replace(link.id, 'AAAAAAAAAAAAAAAAAAAAAA'), key, before).ok).toBe(false);
    expect(verifyTaskLink(signed, randomBytes(32), before)).toEqual({ ok: false, problem: 'tampered' });
  });

  it('a later expiry written into the link is tampering, not a longer life', () => {
    const [id, code, , signature] = signTaskLink(link, key).split('.');
    const stretched = [id, code, (link.expires + 86_400_000).toString(36), signature].join('.');
    expect(verifyTaskLink(stretched, key, link.expires + 1000)).toEqual({ ok: false, problem: 'tampered' });
  });

  it('after the deadline the link is expired, and still names its task', () => {
    expect(verifyTaskLink(signTaskLink(link, key), key, link.expires)).toEqual({
      ok: false,
      problem: 'expired',
      link,
    });
  });

  it('a cut or empty link is malformed', () => {
    const signed = signTaskLink(link, key);
    expect(verifyTaskLink(signed.slice(0, 20), key, before)).toEqual({ ok: false, problem: 'malformed' });
    expect(verifyTaskLink('', key, before)).toEqual({ ok: false, problem: 'malformed' });
    expect(verifyTaskLink(null, key, before)).toEqual({ ok: false, problem: 'malformed' });
  });

  it('an email gets two links on the page, expiring at the task deadline, never carrying a token', () => {
    const links = taskLinks(
      'https://abc.lambda-url.eu-west-1.on.aws/',
      { id: link.id, deadline: '2026-11-08T14:00:00.000Z' },
      key,
    );
    const done = verifyTaskLink(new URL(links.done).searchParams.get('link'), key, before);
    const failed = verifyTaskLink(new URL(links.failed).searchParams.get('link'), key, before);
    expect(done).toEqual({ ok: true, link });
    expect(failed).toEqual({ ok: true, link: { ...link, answer: 'failed' } });
    expect(links.done.startsWith('https://abc.lambda-url.eu-west-1.on.aws/?link=')).toBe(true);
  });
});
