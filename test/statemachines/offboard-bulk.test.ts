import { readFileSync } from 'node:fs';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import aslValidator from 'asl-validator';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { handler as deployedHandler, normalizeBulkHandler } from '../../lambdas/handlers/normalize-bulk';
import type { ConnectionRef } from '../../lambdas/shared/connections';
import { OFFBOARD_BULK_ASL, runBulkWorkflowLocally } from '../../local/bulk';
import { invoke, type JSONValue, type LocalConnection, loadStateMachine } from '../../local/runner';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import { rejectionOf } from '../helpers/errors';

/** offboard-bulk.asl.json: many people, one offboard-user execution each. */

const S3_MAP = 'Offboard everyone in the checked S3 list';
process.env.AWS_REGION ??= 'us-east-1';
// The deployed function's S3 client, faked; the other stories pass their own reader and writer.
const s3 = mockClient(S3Client);
afterAll(() => s3.restore());

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
  it('is a valid definition, with one DISTRIBUTED Map reading the checked list from S3', () => {
    // Prepare
    const definition = JSON.parse(readFileSync(OFFBOARD_BULK_ASL, 'utf8'));
    // Act
    const s3Maps = Object.entries(definition.States).filter(
      ([, state]) => (state as { ItemReader?: unknown }).ItemReader !== undefined,
    );
    // Assess
    expect(aslValidator(definition).errors).toEqual([]);
    expect(s3Maps.map(([name]) => name)).toEqual([S3_MAP]);
    const s3Map = definition.States[S3_MAP];
    expect(s3Map.ItemProcessor.ProcessorConfig.Mode).toBe('DISTRIBUTED');
    // What the first state wrote: a JSON array of {email}, at the key it returned.
    expect(s3Map.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSON' },
      Parameters: { 'Bucket.$': '$.source.bucket', 'Key.$': '$.source.key' },
    });
    expect(s3Map.ItemSelector['email.$']).toBe('$$.Map.Item.Value.email');
    expect(s3Map.ResultWriter.Resource).toBe('arn:aws:states:::s3:putObject');
    expect(definition.States['Where is the list?'].Choices).toEqual([
      { Variable: '$.source', IsPresent: true, Next: S3_MAP },
    ]);
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
    box?.addFault({ method: 'PUT', status: 401, times: 1 });
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
  const UPLOAD = { bucket: 'offboard-bulk', key: 'layoff.csv' };
  const CHECKED = { bucket: 'offboard-bulk', key: 'checked/layoff-2026-11.json' };

  /** A bucket in memory: `bucket/key` → body. */
  function fakeBucket(upload: string) {
    const objects = new Map([[`${UPLOAD.bucket}/${UPLOAD.key}`, upload]]);
    const check = normalizeBulkHandler(
      () => refs,
      async (bucket, key) => {
        const body = objects.get(`${bucket}/${key}`);
        if (body === undefined) throw new Error(`NoSuchKey: ${bucket}/${key}`);
        return body;
      },
      async (bucket, key, body) => {
        objects.set(`${bucket}/${key}`, body);
      },
    );
    return { objects, check };
  }
  /** What the state machine sends the function: the execution input, and its name. */
  const asCalled = (request: unknown) => ({ request, executionName: 'layoff-2026-11' });
  const checkedList = (objects: Map<string, string>) =>
    JSON.parse(objects.get(`${CHECKED.bucket}/${CHECKED.key}`) ?? 'null');

  it('is checked whole, then written as checked under the execution name, for the Map to read', async () => {
    // Prepare: a CSV whose quoted name holds a comma, the manager in the column before
    const { objects, check } = fakeBucket(
      'name,manager,email\n"Doe, Jane",bob.smith@example.com,jane.doe@example.com\nLee,,marcus.lee@example.com\n',
    );
    // Act
    const result = await check(asCalled({ source: UPLOAD, dryRun: true }), context);
    // Assess: the Map is sent to the checked copy, which names Jane and Marcus, not Bob
    expect(result).toEqual({ dryRun: true, connections: null, count: 2, source: CHECKED });
    expect(checkedList(objects)).toEqual([
      { email: 'jane.doe@example.com' },
      { email: 'marcus.lee@example.com' },
    ]);
  });

  it('may be a JSON array of addresses or of {email} objects, checked and rewritten the same way', async () => {
    const { objects, check } = fakeBucket(
      '["jane.doe@example.com", {"email": "marcus.lee@example.com", "id": 7}]',
    );
    const result = await check(asCalled({ source: UPLOAD }), context);
    expect(result).toMatchObject({ count: 2, source: CHECKED });
    expect(checkedList(objects)).toEqual([
      { email: 'jane.doe@example.com' },
      { email: 'marcus.lee@example.com' },
    ]);
  });

  it('refuses a CSV with a broken row, naming its line, and writes nothing for the Map', async () => {
    // Prepare: line 3 opens a quote it never closes
    const { objects, check } = fakeBucket(
      'name,email\nDoe,jane.doe@example.com\n"Smith,bob.smith@example.com\n',
    );
    // Act
    const error = await rejectionOf(check(asCalled({ source: UPLOAD }), context));
    // Assess
    expect(error).toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringMatching(/^s3:\/\/offboard-bulk\/layoff\.csv: line 3 is not valid CSV/),
    });
    expect([...objects.keys()]).toEqual([`${UPLOAD.bucket}/${UPLOAD.key}`]);
  });

  it('names every bad row, and writes nothing when the options are wrong either', async () => {
    const bad = fakeBucket('email\njane.doe@example.com\nnot an email\n');
    await expect(bad.check(asCalled({ source: UPLOAD }), context)).rejects.toMatchObject({
      message: expect.stringContaining('line 3'),
    });
    const unknown = fakeBucket('email\njane.doe@example.com\n');
    await expect(
      unknown.check(asCalled({ source: UPLOAD, connections: ['salesforce'] }), context),
    ).rejects.toMatchObject({ name: 'Input.Invalid' });
    expect(bad.objects.size + unknown.objects.size).toBe(2);
  });

  it('is a deployment fault when the state machine does not name the execution', async () => {
    const { check } = fakeBucket('email\njane.doe@example.com\n');
    await expect(check({ source: UPLOAD }, context)).rejects.toMatchObject({ name: 'Config.Invalid' });
  });

  it('offboards what was checked, even when the upload changes after the check', async () => {
    // Prepare
    const { objects, check } = fakeBucket('name,email\n"Doe, Jane",jane.doe@example.com\n');
    const checkThenReplace = async (input: JSONValue): Promise<JSONValue> => {
      const output = await invoke(check, (input as { Payload: unknown }).Payload, 'normalize-bulk');
      objects.set(`${UPLOAD.bucket}/${UPLOAD.key}`, 'email\nbob.smith@example.com\n');
      return output;
    };
    // Act: the real ASL, as AWS runs it, up to the DISTRIBUTED Map; once checked, the
    // upload is replaced by a list naming someone else
    const execution = loadStateMachine(OFFBOARD_BULK_ASL).run(
      { source: UPLOAD } as JSONValue,
      {
        overrides: { taskResourceLocalHandlers: { 'Check the list': checkThenReplace } },
        context: {
          Execution: { Id: 'arn:aws:states:local:0:execution:b:layoff-2026-11', Name: 'layoff-2026-11' },
        },
      } as never,
    );
    // The local interpreter has no ItemReader: the run stops at the Map, and the test reads
    // the object its ItemReader names ($.source.bucket, $.source.key: see the first story).
    await execution.result.catch(() => undefined);
    let mapInput: { source?: { bucket: string; key: string } } | undefined;
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered' && event.state.name === S3_MAP) mapInput = event.state.input as never;
    }
    const read = objects.get(`${mapInput?.source?.bucket}/${mapInput?.source?.key}`);
    // Assess: Jane, as checked; never Bob
    expect(mapInput?.source).toEqual(CHECKED);
    expect(JSON.parse(read ?? 'null')).toEqual([{ email: 'jane.doe@example.com' }]);
  });

  it('reads and writes S3 as deployed', async () => {
    // Prepare
    process.env.OFFBOARD_CONNECTIONS = JSON.stringify(refs);
    s3.reset();
    s3.on(GetObjectCommand, { Bucket: UPLOAD.bucket, Key: UPLOAD.key }).resolves({
      Body: { transformToString: async () => '\uFEFFEmail\r\njane.doe@example.com\r\n' } as never,
    });
    s3.on(PutObjectCommand).resolves({});
    // Act
    const result = await deployedHandler(asCalled({ source: UPLOAD }), context);
    // Assess
    expect(result).toMatchObject({ count: 1, source: CHECKED });
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(puts).toEqual([
      {
        Bucket: CHECKED.bucket,
        Key: CHECKED.key,
        Body: '[{"email":"jane.doe@example.com"}]',
        ContentType: 'application/json',
      },
    ]);
  });

  it('writes nothing to S3 when the deployed function refuses the list', async () => {
    process.env.OFFBOARD_CONNECTIONS = JSON.stringify(refs);
    s3.reset();
    s3.on(GetObjectCommand).resolves({
      Body: { transformToString: async () => 'name,email\nDoe,jane.doe@example.com,extra\n' } as never,
    });
    await expect(deployedHandler(asCalled({ source: UPLOAD }), context)).rejects.toMatchObject({
      name: 'Input.Invalid',
      message: expect.stringContaining('line 2 is not valid CSV'),
    });
    expect(s3.commandCalls(PutObjectCommand)).toEqual([]);
  });
});
