import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { normalizeBulkHandler } from '../../lambdas/handlers/normalize-bulk';
import type { ConnectionRef } from '../../lambdas/shared/connections';
import { OFFBOARD_BULK_ASL, runBulkWorkflowLocally } from '../../local/bulk';
import type { LocalConnection } from '../../local/runner';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';

/** offboard-bulk.asl.json: many people, one offboard-user execution each. */

let box: InsightlySandbox | undefined;
afterEach(async () => {
  await box?.close();
  box = undefined;
});

async function insightly(): Promise<LocalConnection> {
  box = await startInsightlySandbox();
  return {
    ref: { name: 'insightly', type: 'insightly', baseUrl: box.baseUrl },
    secret: { apiKey: 'sandbox-api-key' },
  };
}

describe('offboard-bulk.asl.json', () => {
  it('is a valid definition, with a DISTRIBUTED Map reading S3 for long lists', () => {
    const definition = JSON.parse(readFileSync(OFFBOARD_BULK_ASL, 'utf8'));
    expect(aslValidator(definition).errors).toEqual([]);
    const csv = definition.States['Offboard everyone in the S3 list (CSV)'];
    const json = definition.States['Offboard everyone in the S3 list (JSON)'];
    for (const s3Map of [csv, json]) {
      expect(s3Map.ItemProcessor.ProcessorConfig.Mode).toBe('DISTRIBUTED');
      expect(s3Map.ItemSelector['email.$']).toBe('$$.Map.Item.Value.email');
      expect(s3Map.ResultWriter.Resource).toBe('arn:aws:states:::s3:putObject');
    }
    expect(csv.ItemReader.ReaderConfig).toEqual({ InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' });
    expect(json.ItemReader.ReaderConfig).toEqual({ InputType: 'JSON' });
    expect(definition.States['Offboard everyone listed'].MaxConcurrency).toBeGreaterThan(0);
  });

  it('offboards everyone listed, once each, and totals the outcomes', async () => {
    // Prepare
    const connection = await insightly();
    // Act: Jane twice (in two cases), Marcus, and someone Insightly does not know
    const result = await runBulkWorkflowLocally({
      connections: [connection],
      input: {
        emails: [
          'jane.doe@example.com',
          'marcus.lee@example.com',
          'JANE.DOE@example.com',
          'nobody@example.com',
        ],
      },
    });
    // Assess
    expect(result).toMatchObject({
      ok: true,
      bulk: { people: 3, status: 'succeeded', outcomes: { deactivated: 2, 'not-found': 1 }, failed: [] },
    });
    expect(box?.requests.filter((r) => r.method === 'PUT')).toHaveLength(2);
  });

  it('refuses the whole list, before anyone is touched, when one entry is bad', async () => {
    const connection = await insightly();
    const result = await runBulkWorkflowLocally({
      connections: [connection],
      input: { emails: ['jane.doe@example.com', 'marcus.lee@example', 'priya@'] },
    });
    expect(result).toMatchObject({
      ok: false,
      error: { name: 'Input.Invalid', message: expect.stringMatching(/2 invalid entries.*item 2.*item 3/) },
    });
    expect(box?.requests).toEqual([]);
  });

  it('sends a long list to S3 instead of the state payload', async () => {
    const connection = await insightly();
    const emails = Array.from({ length: 201 }, (_, i) => `person${i}@example.com`);
    const result = await runBulkWorkflowLocally({ connections: [connection], input: { emails } });
    expect(result).toMatchObject({
      ok: false,
      error: { name: 'Input.Invalid', message: expect.stringContaining('source {bucket, key}') },
    });
  });

  it('reports people with a failed connection by name', async () => {
    const connection = await insightly();
    box?.addFault({ method: 'PUT', status: 403, times: 1 });
    const result = await runBulkWorkflowLocally({
      connections: [connection],
      input: { emails: ['jane.doe@example.com', 'marcus.lee@example.com'] },
    });
    expect(result.ok && 'bulk' in result && result.bulk.status).toBe('partial');
    expect(result.ok && 'bulk' in result && result.bulk.failed).toEqual([
      {
        email: expect.any(String),
        connections: [
          expect.objectContaining({
            outcome: 'failed',
            error: expect.objectContaining({ name: 'Vendor.AuthFailed' }),
          }),
        ],
      },
    ]);
  });
});

describe('the list in S3', () => {
  const refs: ConnectionRef[] = [
    { name: 'insightly', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' },
  ];
  const context = { functionName: 'NormalizeBulk', awsRequestId: 'r' } as unknown as Context;
  const check = (csv: string) =>
    normalizeBulkHandler(
      () => refs,
      async () => csv,
    )({ source: { bucket: 'offboard-bulk', key: 'layoff.csv' }, dryRun: true }, context);

  it('is checked whole, and counted, but left in S3 for the Map to read', async () => {
    const result = await check('employeeId,email\n1,jane.doe@example.com\n2,marcus.lee@example.com\n');
    expect(result).toEqual({
      dryRun: true,
      connections: null,
      count: 2,
      source: { bucket: 'offboard-bulk', key: 'layoff.csv' },
      format: 'csv',
    });
  });

  it('may be a JSON array of {email} objects, which the Map reads as JSON', async () => {
    const result = await check('[{"email":"jane.doe@example.com","employeeId":"1"}]');
    expect(result).toMatchObject({ count: 1, format: 'json' });
    await expect(check('["jane.doe@example.com"]')).rejects.toMatchObject({
      message: expect.stringContaining('objects like {"email"'),
    });
  });

  it('must have an email column the Map can read by name', async () => {
    await expect(check('Email Address\njane.doe@example.com\n')).rejects.toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringContaining('header with an "email" column'),
    });
  });

  it('names every bad row', async () => {
    await expect(check('email\njane.doe@example.com\nnot an email\n')).rejects.toMatchObject({
      message: expect.stringContaining('line 3'),
    });
  });
});
