import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { ERROR_NAMES } from '../../../lambdas/shared/errors';
import { normalizeInput, normalizeRequest, terminationEventSchema } from '../../../lambdas/shared/request';

/** The HR event: its published JSON Schema, and how the normalizer reads it. */

const schema = JSON.parse(
  readFileSync(new URL('../../../schemas/employee-terminated.schema.json', import.meta.url), 'utf8'),
);
const connections: ConnectionRef[] = [
  { name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' },
  { name: 'wiki', type: 'scim', baseUrl: 'https://wiki.example.com/scim/v2' },
];
const now = new Date('2026-11-23T12:00:00Z');
const event = (detail: Record<string, unknown>, envelope: Record<string, unknown> = {}) => ({
  id: 'e1',
  source: 'com.example.hr',
  'detail-type': 'Employee Terminated',
  detail,
  ...envelope,
});

/** The error normalizeInput throws; fails the test when it returns. */
function refusal(raw: unknown): Error {
  try {
    normalizeInput(raw, connections, now);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the event to be refused, but it was accepted');
}

describe('schemas/employee-terminated.schema.json', () => {
  it('publishes exactly the fields the normalizer reads', () => {
    expect(schema.required).toEqual(['id', 'source', 'detail-type', 'detail']);
    expect(schema.properties['detail-type'].const).toBe('Employee Terminated');
    expect(schema.properties.detail.required).toEqual(['email']);
    expect(Object.keys(schema.properties.detail.properties).sort()).toEqual(
      Object.keys(terminationEventSchema.shape.detail.shape).sort(),
    );
  });

  it('documents dryRun and connections in detail, and the refused fields as refused', () => {
    expect(schema.properties.detail.properties.dryRun).toMatchObject({ type: 'boolean', default: false });
    expect(schema.properties.detail.properties.connections).toMatchObject({
      items: { type: 'string' },
      minItems: 1,
    });
    expect(schema.properties.detail.properties.reactivate).toMatchObject({ not: {} });
    for (const field of ['dryRun', 'connections', 'reactivate']) {
      expect(schema.properties[field], field).toMatchObject({ not: {} });
    }
  });
});

describe('an HR event that says how to run', () => {
  it('detail.dryRun: true is a dry run', () => {
    // Act
    const request = normalizeInput(event({ email: 'jane.doe@example.com', dryRun: true }), connections, now);

    // Assess: today this was a real run
    expect(request.dryRun).toBe(true);
  });

  it('detail.connections runs only those connections', () => {
    const request = normalizeInput(
      event({ email: 'jane.doe@example.com', connections: ['wiki'] }),
      connections,
      now,
    );
    expect(request.connections.map((c) => c.name)).toEqual(['wiki']);
  });

  it.each([
    [{ dryRun: 'true' }, 'dryRun must be true or false'],
    [{ dryRun: 1 }, 'dryRun must be true or false'],
    [{ connections: [] }, 'connections, when given, must name at least one connection'],
    [{ connections: 'crm' }, 'connections must be a list of connection names'],
  ])('refuses %j as the console input refuses it', (fields, message) => {
    // Act
    const fromEvent = refusal(event({ email: 'jane.doe@example.com', ...fields }));

    // Assess: the same words as the console's
    expect(fromEvent.name).toBe(ERROR_NAMES.invalidInput);
    expect(fromEvent.message).toContain(`detail.${Object.keys(fields)[0]}: ${message}`);
    expect(() => normalizeRequest({ email: 'jane.doe@example.com', ...fields }, connections)).toThrow(
      message,
    );
  });

  it('refuses a connection name that is not configured, naming the configured ones', () => {
    const error = refusal(event({ email: 'jane.doe@example.com', connections: ['crm', 'salesforce'] }));
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain("unknown connection(s) 'salesforce'; configured: crm, wiki");
  });

  it('refuses detail.reactivate: a termination cannot reactivate', () => {
    const error = refusal(event({ email: 'jane.doe@example.com', reactivate: false }));
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('detail.reactivate: a termination event cannot reactivate');
  });

  it('refuses dryRun and connections on the envelope, telling to put them in detail', () => {
    // Act: an HR system that put the console's fields beside detail, where nothing reads them
    const error = refusal(event({ email: 'jane.doe@example.com' }, { dryRun: true, connections: ['crm'] }));

    // Assess: both named at once
    expect(error.message).toContain('dryRun: not read on the envelope: put it in detail (detail.dryRun)');
    expect(error.message).toContain(
      'connections: not read on the envelope: put it in detail (detail.connections)',
    );
  });

  it('refuses reactivate on the envelope too', () => {
    expect(refusal(event({ email: 'jane.doe@example.com' }, { reactivate: true })).message).toContain(
      'reactivate: a termination event cannot reactivate',
    );
  });

  it.each([
    ['dry_run', { dry_run: true }, 'dryRun'],
    ['DryRun', { DryRun: true }, 'dryRun'],
    ['dryrun', { dryrun: true }, 'dryRun'],
    ['effective_at', { effective_at: '2026-12-23T00:00:00Z' }, 'effectiveAt'],
    ['effectiveDate', { effectiveDate: '2026-12-23T00:00:00Z' }, 'effectiveAt'],
    ['connection', { connection: ['crm'] }, 'connections'],
    ['Email beside email', { Email: 'sam.new@example.com' }, 'email'],
  ])('refuses detail.%s, a near miss of a field it reads, naming the one meant', (field, extra, meant) => {
    // Act: ignored, each would make a dry run real, or next month's termination today's
    const error = refusal(event({ email: 'jane.doe@example.com', ...extra }));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain(
      `detail.${field.split(' ')[0]}: not a field offboard reads: did you mean ${meant}?`,
    );
  });

  it('refuses a near miss of a detail field on the envelope, pointing into detail', () => {
    const error = refusal(
      event({ email: 'jane.doe@example.com' }, { effectiveAt: '2026-12-23T00:00:00Z', dry_run: true }),
    );
    expect(error.message).toContain(
      'effectiveAt: not a field offboard reads: did you mean detail.effectiveAt?',
    );
    expect(error.message).toContain('dry_run: not a field offboard reads: did you mean detail.dryRun?');
  });

  it('ignores every other field an HR system adds, on the envelope or in detail', () => {
    const request = normalizeInput(
      event(
        { email: 'jane.doe@example.com', department: 'Sales', manager: { email: 'boss@example.com' } },
        { time: '2026-11-23T12:00:00Z', region: 'eu-west-1', resources: [], account: '123456789012' },
      ),
      connections,
      now,
    );
    expect(request).toMatchObject({ email: 'jane.doe@example.com', dryRun: false, reactivate: false });
    expect(request.connections.map((c) => c.name)).toEqual(['crm', 'wiki']);
  });

  it('a dry run claims its own key, so the real event that follows is no duplicate', () => {
    // Act
    const dry = normalizeInput(
      event({ email: 'jane.doe@example.com', employeeId: 'E-7', dryRun: true }),
      connections,
      now,
    );
    const real = normalizeInput(
      event({ email: 'jane.doe@example.com', employeeId: 'E-7' }),
      connections,
      now,
    );

    // Assess
    expect(dry.hrEvent?.claimKey).toBe(
      'termination#com.example.hr#e-7#jane.doe@example.com#2026-11-23#dry-run',
    );
    expect(real.hrEvent?.claimKey).toBe('termination#com.example.hr#e-7#jane.doe@example.com#2026-11-23');
  });
});

describe('normalizeInput with an HR event', () => {
  it('waits for a future effectiveAt, and keys the claim on the person and that date', () => {
    const request = normalizeInput(
      event({ email: 'Jane.Doe@example.com', employeeId: 'E-7', effectiveAt: '2026-12-01T17:00:00+01:00' }),
      connections,
      now,
    );
    expect(request.waitUntil).toBe('2026-12-01T16:00:00.000Z');
    expect(request.hrEvent).toEqual({
      eventId: 'e1',
      source: 'com.example.hr',
      employeeId: 'E-7',
      claimKey: 'termination#com.example.hr#e-7#jane.doe@example.com#2026-12-01',
    });
    expect(request.dryRun).toBe(false);
  });

  it('runs now when effectiveAt is past or absent, keyed on the email without an employee id', () => {
    expect(
      normalizeInput(event({ email: 'a@example.com', effectiveAt: '2026-11-01T00:00:00Z' }), connections, now)
        .waitUntil,
    ).toBeUndefined();
    expect(normalizeInput(event({ email: 'A@example.com' }), connections, now).hrEvent?.claimKey).toBe(
      'termination#com.example.hr##a@example.com#2026-11-23',
    );
  });

  it.each([
    ['a corrected address (the first found nobody)', { email: 'jane.deo@example.com' }, {}],
    ['another HR system whose ids overlap', {}, { source: 'com.example.contractors' }],
    ['an undated termination sent on another day (after a re-hire)', {}, { time: '2026-12-05T09:00:00Z' }],
  ])('claims apart from the first event: %s', (_case, detail, envelope) => {
    const first = normalizeInput(
      event({ email: 'jane.doe@example.com', employeeId: 'E-7' }, { time: '2026-11-23T09:00:00Z' }),
      connections,
      now,
    );
    const second = normalizeInput(
      event(
        { email: 'jane.doe@example.com', employeeId: 'E-7', ...detail },
        { time: '2026-11-23T10:00:00Z', ...envelope },
      ),
      connections,
      now,
    );
    expect(second.hrEvent?.claimKey).not.toBe(first.hrEvent?.claimKey);
  });

  it('claims the same as the first event when it is the same termination sent again that day', () => {
    const first = normalizeInput(
      event({ email: 'Jane.Doe@example.com', employeeId: 'E-7' }, { id: 'a', time: '2026-11-23T09:00:00Z' }),
      connections,
      now,
    );
    const resent = normalizeInput(
      event({ email: 'jane.doe@example.com', employeeId: 'e-7' }, { id: 'b', time: '2026-11-23T17:00:00Z' }),
      connections,
      now,
    );
    expect(resent.hrEvent?.claimKey).toBe(first.hrEvent?.claimKey);
  });

  it('refuses an event whose effectiveAt is not a date-time', () => {
    expect(() =>
      normalizeInput(event({ email: 'a@example.com', effectiveAt: 'next friday' }), connections, now),
    ).toThrow(/detail\.effectiveAt: effectiveAt must be an ISO 8601 date-time/);
  });
});

describe('a future-dated termination', () => {
  it('waits in steps of at most 20 days that end exactly at effectiveAt', () => {
    // Act
    const request = normalizeInput(
      event({ email: 'jane@example.com', effectiveAt: '2027-01-07T12:00:00Z' }),
      connections,
      now,
    );
    // Assess: 45 days ahead: two 20-day steps, then the date itself.
    expect(request.waitUntil).toBe('2027-01-07T12:00:00.000Z');
    expect(request.waitSteps).toEqual([
      '2026-12-13T12:00:00.000Z',
      '2027-01-02T12:00:00.000Z',
      '2027-01-07T12:00:00.000Z',
    ]);
  });

  it('is refused, naming why, when it is further ahead than an execution can wait', () => {
    const error = refusal(event({ email: 'jane@example.com', effectiveAt: '2028-01-01T00:00:00Z' }));
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain('more than 360 days ahead');
  });

  it('an event limited to some connections claims apart from one for every connection', () => {
    const all = normalizeInput(event({ email: 'jane@example.com' }), connections, now);
    const some = normalizeInput(
      event({ email: 'jane@example.com', connections: ['wiki'] }),
      connections,
      now,
    );
    expect(some.hrEvent?.claimKey).not.toBe(all.hrEvent?.claimKey);
    expect(some.hrEvent?.claimKey).toContain('#only:wiki');
  });
});
