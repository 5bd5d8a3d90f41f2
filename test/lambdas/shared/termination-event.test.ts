import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { normalizeInput, terminationEventSchema } from '../../../lambdas/shared/request';

/** The HR event: its published JSON Schema, and how the normalizer reads it. */

const schema = JSON.parse(
  readFileSync(new URL('../../../schemas/employee-terminated.schema.json', import.meta.url), 'utf8'),
);
const connections: ConnectionRef[] = [
  { name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' },
];
const now = new Date('2026-11-23T12:00:00Z');
const event = (detail: Record<string, unknown>) => ({
  id: 'e1',
  source: 'com.example.hr',
  'detail-type': 'Employee Terminated',
  detail,
});

describe('schemas/employee-terminated.schema.json', () => {
  it('publishes exactly the fields the normalizer reads', () => {
    expect(schema.required).toEqual(['id', 'source', 'detail-type', 'detail']);
    expect(schema.properties['detail-type'].const).toBe('Employee Terminated');
    expect(schema.properties.detail.required).toEqual(['email']);
    expect(Object.keys(schema.properties.detail.properties).sort()).toEqual(
      Object.keys(terminationEventSchema.shape.detail.shape).sort(),
    );
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
      claimKey: 'termination#e-7#2026-12-01',
    });
    expect(request.dryRun).toBe(false);
  });

  it('runs now when effectiveAt is past or absent, keyed on the email without an employee id', () => {
    expect(
      normalizeInput(event({ email: 'a@example.com', effectiveAt: '2026-11-01T00:00:00Z' }), connections, now)
        .waitUntil,
    ).toBeUndefined();
    expect(normalizeInput(event({ email: 'A@example.com' }), connections, now).hrEvent?.claimKey).toBe(
      'termination#a@example.com#now',
    );
  });

  it('refuses an event whose effectiveAt is not a date-time', () => {
    expect(() =>
      normalizeInput(event({ email: 'a@example.com', effectiveAt: 'next friday' }), connections, now),
    ).toThrow(/detail\.effectiveAt: effectiveAt must be an ISO 8601 date-time/);
  });
});
