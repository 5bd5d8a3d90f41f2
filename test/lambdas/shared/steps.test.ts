import { describe, expect, it } from 'vitest';
import type { DeactivatingConnector, LookupResult, UserRecord } from '../../../lambdas/connectors/types';
import { changedFields } from '../../../lambdas/shared/checks';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import type { DeployedConnection } from '../../../lambdas/shared/deployed';
import {
  ERROR_NAMES,
  NotYetAppliedError,
  UnavailableError,
  WriteRefusedError,
} from '../../../lambdas/shared/errors';
import { MemoryBlobStore } from '../../../lambdas/shared/evidence';
import { runStep, STATE_FIELDS_LIMIT, type StepEnvironment } from '../../../lambdas/shared/steps';
import { SqliteLedger } from '../../../local/sqlite-ledger';
import { rejectionOf } from '../../helpers/errors';

/**
 * runStep holds the rules that protect people, once for every vendor. A fake connector
 * answers from an account store a test can change between calls (as a colleague editing the
 * account, or the vendor handing its id to someone else, would) and records what it was
 * asked; the environment hands out the function's own connections, a secret and a ledger.
 */

const CONNECTION: ConnectionRef = {
  name: 'insightly-test',
  type: 'insightly',
  baseUrl: 'https://api.insightly.com/v3.1',
  secretId: 'offboard/insightly-test',
};
const EMAIL = 'jane.doe@example.com';
const SECRET = { apiKey: 'fake-key-0123456789' };
const STARTED = '2026-11-30T10:00:00.000Z';
const EXECUTION = 'arn:aws:states:us-east-1:1:execution:offboard-user:run-1';

function userRecord(overrides: Partial<UserRecord> = {}): UserRecord {
  const active = overrides.active ?? true;
  return {
    id: '1002',
    email: EMAIL,
    active,
    fields: { USER_ID: 1002, EMAIL_ADDRESS: EMAIL, ACTIVE: active, PROFILE_ID: 7, DATE_UPDATED_UTC: 'a' },
    ...overrides,
  };
}

type Method = 'lookupUser' | 'getUser' | 'protectedReason' | 'deactivateUser' | 'verifyDeactivated';

/** A connector over a store of accounts; every call recorded, each read a copy of what is stored. */
class FakeConnector implements DeactivatingConnector {
  readonly volatileFields = ['ACTIVE', 'DATE_UPDATED_UTC'];
  readonly calls: Array<{ method: Method; arg: unknown }> = [];
  /** What a read of user 1002 answers; `reads` lets a test change it for the next read only. */
  account: UserRecord = userRecord();
  reads: UserRecord[] = [];

  constructor(
    private readonly options: {
      lookup?: LookupResult;
      protectedBecause?: string;
      writeError?: Error;
      verifyError?: Error;
    } = {},
  ) {}

  async lookupUser(email: string): Promise<LookupResult> {
    this.calls.push({ method: 'lookupUser', arg: email });
    return this.options.lookup ?? { found: false };
  }

  async getUser(userId: string): Promise<UserRecord> {
    this.calls.push({ method: 'getUser', arg: userId });
    return structuredClone(this.reads.shift() ?? this.account);
  }

  async protectedReason(record: UserRecord): Promise<string | undefined> {
    this.calls.push({ method: 'protectedReason', arg: record.id });
    return this.options.protectedBecause;
  }

  async deactivateUser(record: UserRecord): Promise<void> {
    this.calls.push({ method: 'deactivateUser', arg: structuredClone(record) });
    if (this.options.writeError) throw this.options.writeError;
    this.account = { ...record, active: false, fields: { ...record.fields, ACTIVE: false } };
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    this.calls.push({ method: 'verifyDeactivated', arg: userId });
    if (this.options.verifyError) throw this.options.verifyError;
    const record = structuredClone(this.account);
    if (record.active) throw new NotYetAppliedError(`insightly-test: verify user ${userId}: still ACTIVE`);
    return record;
  }

  methods(): Method[] {
    return this.calls.map((call) => call.method);
  }
}

/** What runStep is given: the function's own connections, a secret, a ledger in memory. */
function environment(connections: DeployedConnection[] = [CONNECTION]) {
  const blobs = new MemoryBlobStore();
  const ledger = new SqliteLedger(':memory:', () => blobs);
  const secretsFor: string[] = [];
  const env: StepEnvironment = {
    connections: () => connections,
    resolveSecret: async (connection) => {
      secretsFor.push(connection.name);
      return SECRET;
    },
    ledger: () => ledger,
    blobs: () => blobs,
  };
  return { env, ledger, blobs, secretsFor };
}

/** Runs one step with `connector` behind the factory; the built connections are kept. */
async function runWith(
  connector: FakeConnector,
  event: Record<string, unknown>,
  setup = environment(),
): Promise<unknown> {
  return runStep(event, () => connector, setup.env);
}

const BASE = { connection: { name: CONNECTION.name }, email: EMAIL };
const GET_RECORD = { ...BASE, step: 'getRecord', userId: '1002' };
const VERIFY = { ...BASE, step: 'verify', userId: '1002' };
const deactivate = (record: unknown, extra: Record<string, unknown> = {}) => ({
  ...BASE,
  step: 'deactivate',
  record,
  executionId: EXECUTION,
  startedAt: STARTED,
  ...extra,
});

describe('runStep: input', () => {
  it.each([
    ['an unknown step', { ...BASE, step: 'delete' }, 'step'],
    ['getRecord without userId', { ...BASE, step: 'getRecord' }, 'userId'],
    [
      'a connection with a bad name',
      { ...BASE, step: 'lookup', connection: { name: 'Insightly Prod' } },
      'connection.name',
    ],
    ['a record without id', deactivate({ ...userRecord(), id: '' }), 'record.id'],
  ])('refuses %s with Input.Invalid before reading any secret', async (_case, event, path) => {
    // Prepare
    const connector = new FakeConnector();
    const setup = environment();

    // Act
    const error = await rejectionOf(runWith(connector, event, setup));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain(path);
    expect(setup.secretsFor).toEqual([]);
    expect(connector.calls).toEqual([]);
  });
});

describe('runStep: the connection is the function own, named by the payload', () => {
  it('builds the connector from its own configuration, whatever base URL or secret id the payload carries', async () => {
    // Prepare: a crafted invoke pointing the real secret at another host.
    const connector = new FakeConnector({ lookup: { found: true, userId: '1002' } });
    const setup = environment();
    const built: ConnectionRef[] = [];

    // Act
    await runStep(
      {
        step: 'lookup',
        email: EMAIL,
        connection: { ...CONNECTION, baseUrl: 'https://attacker.example', secretId: 'offboard/other' },
      },
      (connection) => {
        built.push(connection);
        return connector;
      },
      setup.env,
    );

    // Assess
    expect(built.map((c) => [c.baseUrl, c.secretId])).toEqual([[CONNECTION.baseUrl, CONNECTION.secretId]]);
  });

  it('refuses a connection the function does not serve, before reading any secret', async () => {
    // Prepare
    const connector = new FakeConnector();
    const setup = environment();

    // Act
    const error = await rejectionOf(
      runWith(connector, { ...BASE, step: 'lookup', connection: { name: 'gainsight-prod' } }, setup),
    );

    // Assess
    expect(error.name).toBe(ERROR_NAMES.config);
    expect(error.message).toContain('gainsight-prod');
    expect(setup.secretsFor).toEqual([]);
    expect(connector.calls).toEqual([]);
  });
});

describe('runStep: getRecord', () => {
  it('returns the record when its email is the one asked for, whatever the case', async () => {
    // Prepare
    const connector = new FakeConnector();
    connector.account = userRecord({ email: 'Jane.Doe@Example.com' });

    // Act
    const result = await runWith(connector, GET_RECORD);

    // Assess
    expect(result).toEqual(connector.account);
    expect(connector.methods()).toEqual(['getUser', 'protectedReason']);
  });

  it('answers User.Mismatch when the vendor answers for another id than the one asked', async () => {
    // Prepare: GET /Users/1002 answering user 1003.
    const connector = new FakeConnector();
    connector.account = userRecord({ id: '1003' });

    // Act
    const error = await rejectionOf(runWith(connector, GET_RECORD));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.mismatch);
    expect(error.message).toContain('1003');
    expect(connector.methods()).toEqual(['getUser']);
  });

  it('answers User.Mismatch when the record belongs to another email, or to none', async () => {
    for (const email of ['john.roe@example.com', '']) {
      // Prepare
      const connector = new FakeConnector();
      connector.account = userRecord({ email });

      // Act
      const error = await rejectionOf(runWith(connector, GET_RECORD));

      // Assess
      expect(error.name).toBe(ERROR_NAMES.mismatch);
      expect(error.message).toMatch(/^insightly-test: /);
      expect(connector.methods()).toEqual(['getUser']);
    }
  });

  it('accepts a record whose own login address is the email asked for', async () => {
    // Prepare
    const connector = new FakeConnector();
    connector.account = userRecord({ email: 'jdoe2@example.com', emails: [EMAIL.toUpperCase()] });

    // Act
    const result = await runWith(connector, GET_RECORD);

    // Assess
    expect(result).toMatchObject({ id: '1002' });
  });

  it('answers User.Protected, with the connector reason, for an active protected account', async () => {
    // Prepare
    const connector = new FakeConnector({ protectedBecause: 'it is the account owner of this instance' });

    // Act
    const error = await rejectionOf(runWith(connector, GET_RECORD));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.protected);
    expect(error.message).toMatch(/^insightly-test: user 1002 .*account owner/);
    expect(connector.methods()).not.toContain('deactivateUser');
  });

  it('skips the protection check for an account that is already inactive', async () => {
    const connector = new FakeConnector({ protectedBecause: 'owner' });
    connector.account = userRecord({ active: false });
    await runWith(connector, GET_RECORD);
    expect(connector.methods()).toEqual(['getUser']);
  });

  it('keeps a record too large for the state in the evidence store, whole, and carries its reference', async () => {
    // Prepare
    const connector = new FakeConnector();
    const big = 'x'.repeat(STATE_FIELDS_LIMIT + 1);
    connector.account = userRecord({ fields: { ...userRecord().fields, NOTES: big } });
    const setup = environment();

    // Act
    const result = (await runWith(connector, GET_RECORD, setup)) as { fields?: unknown; fieldsRef?: never };

    // Assess
    expect(result.fields).toBeUndefined();
    expect(await setup.blobs.get(result.fieldsRef as never)).toEqual(connector.account.fields);
  });
});

describe('runStep: deactivate', () => {
  it('writes nothing on a dry run', async () => {
    const connector = new FakeConnector();
    const result = await runWith(connector, deactivate(userRecord(), { dryRun: true }));
    expect(result).toEqual({ userId: '1002', written: false, person: false, reason: '' });
    expect(connector.calls).toEqual([]);
  });

  it('reads the account again, records the before-state in the ledger, then writes it whole', async () => {
    // Prepare
    const connector = new FakeConnector();
    const setup = environment();
    const order: string[] = [];
    const record = setup.ledger.record.bind(setup.ledger);
    setup.ledger.record = async (entries) => {
      order.push(`ledger:${entries[0]?.outcome}`);
      return record(entries);
    };
    const write = connector.deactivateUser.bind(connector);
    connector.deactivateUser = async (r) => {
      order.push('vendor write');
      return write(r);
    };

    // Act
    const result = await runWith(connector, deactivate(userRecord()), setup);

    // Assess
    expect(result).toEqual({ userId: '1002', written: true, person: false, reason: '' });
    expect(order).toEqual(['ledger:deactivating', 'vendor write']);
    const [intent] = await setup.ledger.history(EMAIL);
    expect(intent).toMatchObject({
      outcome: 'deactivating',
      userId: '1002',
      before: userRecord().fields,
      // Keyed under the execution's start; dated by the step's own clock.
      startedAt: STARTED,
      executionId: EXECUTION,
    });
  });

  it('keeps a field edited between the read and the write: the edit is what is written back', async () => {
    // Prepare: the plan read PROFILE_ID 7; a colleague changed it to 9 before the write; the
    // update timestamp moved with it.
    const connector = new FakeConnector();
    const edited = userRecord({ fields: { ...userRecord().fields, PROFILE_ID: 9, DATE_UPDATED_UTC: 'b' } });
    connector.account = edited;

    // Act
    const error = await rejectionOf(runWith(connector, deactivate(userRecord())));

    // Assess: nothing written; the state machine plans again from a fresh read.
    expect(error.name).toBe(ERROR_NAMES.recordChanged);
    expect(error.message).toContain('PROFILE_ID');
    expect(error.message).not.toContain('DATE_UPDATED_UTC');
    expect(connector.methods()).toEqual(['getUser']);

    // Act again, as the state machine does: plan from the fresh record.
    const replanned = new FakeConnector();
    replanned.account = edited;
    await runWith(replanned, deactivate(edited));

    // Assess: the write carries the edit.
    const written = replanned.calls.find((c) => c.method === 'deactivateUser')?.arg as UserRecord;
    expect(written.fields.PROFILE_ID).toBe(9);
  });

  it('never touches an id given to a new hire between the read and the write', async () => {
    // Prepare
    const connector = new FakeConnector();
    connector.account = userRecord({
      email: 'new.hire@example.com',
      fields: { ...userRecord().fields, EMAIL_ADDRESS: 'new.hire@example.com' },
    });
    const setup = environment();

    // Act
    const error = await rejectionOf(runWith(connector, deactivate(userRecord()), setup));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.mismatch);
    expect(error.message).toContain('new.hire@example.com');
    expect(connector.methods()).not.toContain('deactivateUser');
    expect(await setup.ledger.history(EMAIL)).toEqual([]);
  });

  it('writes nothing more when the fresh read finds the account already off (an earlier attempt landed)', async () => {
    const connector = new FakeConnector();
    connector.account = userRecord({ active: false });
    const result = await runWith(connector, deactivate(userRecord()));
    expect(result).toEqual({ userId: '1002', written: false, person: false, reason: '' });
    expect(connector.methods()).toEqual(['getUser']);
  });

  it('with a vendor version, still reads again, and writes conditionally on the version of that read', async () => {
    const connector = new FakeConnector();
    connector.account = userRecord({ version: 'W/"4"' });
    await runWith(connector, deactivate(userRecord({ version: 'W/"3"' })));
    expect(connector.methods()).toEqual(['getUser', 'protectedReason', 'deactivateUser']);
    const write = connector.calls.find((c) => c.method === 'deactivateUser');
    expect((write?.arg as UserRecord | undefined)?.version).toBe('W/"4"');
  });

  it('hands the step to a person when the vendor refuses user writes to this credential', async () => {
    // Prepare
    const connector = new FakeConnector({
      writeError: new WriteRefusedError(
        'insightly-test: deactivate user 1002: HTTP 405: users are read-only',
      ),
    });
    const setup = environment();

    // Act
    const result = await runWith(connector, deactivate(userRecord()), setup);

    // Assess: a task for a person, who is told why; the before-state is kept all the same.
    expect(result).toMatchObject({ userId: '1002', written: false, person: true });
    expect((result as { reason: string }).reason).toContain('read-only');
    expect((await setup.ledger.history(EMAIL)).map((e) => e.outcome)).toEqual(['deactivating']);
  });

  it('refuses a protected account even when the payload did not come through GetRecord', async () => {
    // Prepare: a crafted invoke carrying the instance owner's record straight to the write.
    const connector = new FakeConnector({ protectedBecause: 'it is the account owner of this instance' });
    // Act
    const error = await rejectionOf(runWith(connector, deactivate(userRecord())));
    // Assess
    expect(error.name).toBe(ERROR_NAMES.protected);
    expect(connector.methods()).not.toContain('deactivateUser');
  });

  it('refuses an executionId or startedAt that is not what Step Functions gives: they key the ledger', async () => {
    for (const extra of [{ executionId: 'x#y' }, { startedAt: 'yesterday' }]) {
      const connector = new FakeConnector();
      const error = await rejectionOf(runWith(connector, deactivate(userRecord(), extra)));
      expect(error.name).toBe(ERROR_NAMES.invalidInput);
      expect(connector.calls).toEqual([]);
    }
  });

  it('sends nothing to the vendor when the ledger cannot take the before-state', async () => {
    // Prepare
    const connector = new FakeConnector();
    const setup = environment();
    setup.ledger.close();

    // Act
    const error = await rejectionOf(runWith(connector, deactivate(userRecord()), setup));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.ledgerWriteFailed);
    expect(connector.methods()).not.toContain('deactivateUser');
  });
});

describe('runStep: reactivate', () => {
  it('takes what to restore from the ledger, never from the payload: a crafted before-state writes nothing', async () => {
    // Prepare: no deactivation of Jane is in the ledger; the payload brings its own "before".
    const connector = new FakeConnector();
    connector.account = userRecord({ active: false });
    const setup = environment();
    // Act
    const error = await rejectionOf(
      runWith(
        connector,
        {
          ...BASE,
          step: 'reactivate',
          restore: { userId: '1002', before: { ...userRecord().fields, ADMINISTRATOR: true } },
        },
        setup,
      ),
    );
    // Assess
    expect(error.name).toBe(ERROR_NAMES.badRequest);
    expect(error.message).toContain('the ledger holds no deactivation');
    expect(connector.calls).toEqual([]);
  });
});

describe('runStep: verify and settle', () => {
  it('verify answers active: false once the connector sees the account off', async () => {
    const connector = new FakeConnector();
    connector.account = userRecord({ active: false });
    expect(await runWith(connector, VERIFY)).toEqual({ userId: '1002', active: false });
  });

  it('verify lets Vendor.NotYetApplied through for the state machine to retry', async () => {
    const connector = new FakeConnector();
    expect((await rejectionOf(runWith(connector, VERIFY))).name).toBe(ERROR_NAMES.notYetApplied);
  });

  it('verify refuses an answer about another account', async () => {
    const connector = new FakeConnector();
    connector.account = userRecord({ id: '1003', active: false });
    expect((await rejectionOf(runWith(connector, VERIFY))).name).toBe(ERROR_NAMES.mismatch);
  });

  it.each([
    ['off: the write landed although its answer was lost', userRecord({ active: false }), true],
    ['still on', userRecord(), false],
    ['off, but now someone else', userRecord({ active: false, email: 'new.hire@example.com' }), false],
  ])('settle reads the account to decide: %s', async (_case, account, off) => {
    const connector = new FakeConnector();
    connector.account = account;
    expect(await runWith(connector, { ...VERIFY, step: 'settle' })).toEqual({ userId: '1002', off });
  });
});

describe('runStep: what leaves a step carries no secret', () => {
  it('redacts the secret, and its base64 forms, from a vendor error, and strips control characters', async () => {
    // Prepare: a vendor that echoes the Authorization header in its error body.
    const basic = Buffer.from(`${SECRET.apiKey}:`).toString('base64');
    const connector = new FakeConnector({
      writeError: new UnavailableError(
        `insightly-test: deactivate user 1002: HTTP 500 (bad header Basic ${basic}; key ${SECRET.apiKey}\u001b[2J)`,
      ),
    });

    // Act
    const error = await rejectionOf(runWith(connector, deactivate(userRecord())));

    // Assess
    expect(error.message).not.toContain(SECRET.apiKey);
    expect(error.message).not.toContain(basic);
    expect(error.message).not.toContain('\u001b');
    expect(error.message).toContain('[redacted]');
    expect(error.stack ?? '').not.toContain(SECRET.apiKey);
  });

  it('redacts the secret from a record the vendor answered', async () => {
    const connector = new FakeConnector();
    connector.account = userRecord({ fields: { ...userRecord().fields, NOTE: `key ${SECRET.apiKey}` } });
    const result = await runWith(connector, GET_RECORD);
    expect(JSON.stringify(result)).not.toContain(SECRET.apiKey);
  });
});

describe('changedFields', () => {
  it('ignores volatile fields (dotted into objects) and key order; names everything else', () => {
    const before = { a: 1, meta: { version: '1', created: 'x' }, list: [1, 2], o: { x: 1, y: 2 } };
    const after = { a: 1, meta: { version: '2', created: 'x' }, list: [1, 2], o: { y: 2, x: 1 }, b: 0 };
    expect(changedFields(before, after, ['meta.version'])).toEqual(['b']);
    expect(changedFields(before, { ...after, list: [2, 1] }, ['meta.version', 'b'])).toEqual(['list']);
  });
});
