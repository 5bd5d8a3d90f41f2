import { describe, expect, it } from 'vitest';
import type { DeactivatingConnector, LookupResult, UserRecord } from '../../../lambdas/connectors/types';
import type { ConnectionRef } from '../../../lambdas/shared/connections';
import { ERROR_NAMES, NotYetAppliedError } from '../../../lambdas/shared/errors';
import type { SecretResolver } from '../../../lambdas/shared/secrets';
import { type ConnectorFactory, runStep } from '../../../lambdas/shared/steps';
import { rejectionOf } from '../../helpers/errors';

/**
 * runStep holds the rules that protect people, once for every vendor. A fake connector
 * records what it was asked; a fake resolver hands out a secret.
 */

const CONNECTION: ConnectionRef = {
  name: 'insightly-test',
  type: 'insightly',
  baseUrl: 'https://api.insightly.com/v3.1',
  secretId: 'offboard/insightly-test',
};
const EMAIL = 'jane.doe@example.com';
const SECRET = { apiKey: 'fake-key' };

function userRecord(overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    id: '1002',
    email: EMAIL,
    active: true,
    fields: { USER_ID: 1002, EMAIL_ADDRESS: EMAIL, ACTIVE: true, PROFILE_ID: 7 },
    ...overrides,
  };
}

type Call = { method: keyof DeactivatingConnector; arg: unknown };

/** A connector that answers from its options and records every call. */
class FakeConnector implements DeactivatingConnector {
  readonly calls: Call[] = [];
  constructor(
    private readonly options: {
      lookup?: LookupResult;
      record?: UserRecord;
      integration?: boolean;
      verifyError?: Error;
    } = {},
  ) {}

  async lookupUser(email: string): Promise<LookupResult> {
    this.calls.push({ method: 'lookupUser', arg: email });
    return this.options.lookup ?? { found: false };
  }

  async getUser(userId: string): Promise<UserRecord> {
    this.calls.push({ method: 'getUser', arg: userId });
    return this.options.record ?? userRecord({ id: userId });
  }

  async isIntegrationAccount(record: UserRecord): Promise<boolean> {
    this.calls.push({ method: 'isIntegrationAccount', arg: record });
    return this.options.integration ?? false;
  }

  async deactivateUser(record: UserRecord): Promise<void> {
    this.calls.push({ method: 'deactivateUser', arg: record });
  }

  async verifyDeactivated(userId: string): Promise<UserRecord> {
    this.calls.push({ method: 'verifyDeactivated', arg: userId });
    if (this.options.verifyError) throw this.options.verifyError;
    return userRecord({ id: userId, active: false });
  }

  methods(): Array<keyof DeactivatingConnector> {
    return this.calls.map((call) => call.method);
  }
}

/** The factory and resolver runStep is given, with what each received. */
function harness(connector: FakeConnector) {
  const resolved: ConnectionRef[] = [];
  const built: Array<{ connection: ConnectionRef; secret: unknown }> = [];
  const resolveSecret: SecretResolver = async (connection) => {
    resolved.push(connection);
    return SECRET;
  };
  const factory: ConnectorFactory = (connection, secret) => {
    built.push({ connection, secret });
    return connector;
  };
  return { resolveSecret, factory, resolved, built };
}

/** Runs one step with `connector` behind the factory, when only the answer matters. */
function runWith(connector: FakeConnector, event: Record<string, unknown>): Promise<unknown> {
  const { factory, resolveSecret } = harness(connector);
  return runStep(event, factory, resolveSecret);
}

/** The getRecord and verify steps for Jane's user 1002. */
const GET_RECORD = { step: 'getRecord', connection: CONNECTION, email: EMAIL, userId: '1002' };
const VERIFY = { ...GET_RECORD, step: 'verify' };

describe('runStep: input', () => {
  it.each([
    ['an unknown step', { step: 'delete', connection: CONNECTION, email: EMAIL }, 'step'],
    ['getRecord without userId', { step: 'getRecord', connection: CONNECTION, email: EMAIL }, 'userId'],
    [
      'a connection with a bad name',
      { step: 'lookup', connection: { ...CONNECTION, name: 'Insightly Prod' }, email: EMAIL },
      'connection.name',
    ],
    [
      'a record without id',
      { step: 'deactivate', connection: CONNECTION, email: EMAIL, record: { ...userRecord(), id: '' } },
      'record.id',
    ],
  ])('refuses %s with Input.Invalid before reading any secret', async (_case, event, path) => {
    // Prepare
    const connector = new FakeConnector();
    const { factory, resolveSecret, resolved, built } = harness(connector);

    // Act
    const error = await rejectionOf(runStep(event, factory, resolveSecret));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.invalidInput);
    expect(error.message).toContain(path);
    expect(resolved).toEqual([]);
    expect(built).toEqual([]);
    expect(connector.calls).toEqual([]);
  });
});

describe('runStep: secret and factory', () => {
  it('resolves the secret for the connection and hands its value to the factory', async () => {
    // Prepare
    const connector = new FakeConnector({ lookup: { found: true, userId: '1002' } });
    const { factory, resolveSecret, resolved, built } = harness(connector);

    // Act
    const result = await runStep(
      { step: 'lookup', connection: CONNECTION, email: EMAIL },
      factory,
      resolveSecret,
    );

    // Assess
    expect(result).toEqual({ found: true, userId: '1002' });
    expect(resolved).toEqual([CONNECTION]);
    expect(built).toEqual([{ connection: CONNECTION, secret: SECRET }]);
    expect(connector.calls).toEqual([{ method: 'lookupUser', arg: EMAIL }]);
  });
});

describe('runStep: getRecord', () => {
  it('returns the record when its email is the one asked for, whatever the case', async () => {
    // Prepare
    const record = userRecord({ email: 'Jane.Doe@Example.com' });
    const connector = new FakeConnector({ record });

    // Act
    const result = await runWith(connector, GET_RECORD);

    // Assess
    expect(result).toEqual(record);
    expect(connector.methods()).toEqual(['getUser', 'isIntegrationAccount']);
  });

  it('answers User.Mismatch when the record belongs to another email', async () => {
    // Prepare
    const connector = new FakeConnector({ record: userRecord({ email: 'john.roe@example.com' }) });

    // Act
    const error = await rejectionOf(runWith(connector, GET_RECORD));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.mismatch);
    expect(error.message).toMatch(/^insightly-test: /);
    expect(error.message).toContain('john.roe@example.com');
    expect(error.message).toContain(EMAIL);
    expect(connector.methods()).toEqual(['getUser']);
  });

  it('accepts a record whose other addresses hold the email asked for (SCIM emails[])', async () => {
    // Prepare
    const record = userRecord({ email: 'jdoe2', emails: ['J.Doe2@example.com', EMAIL.toUpperCase()] });
    const connector = new FakeConnector({ record });

    // Act
    const result = await runWith(connector, GET_RECORD);

    // Assess
    expect(result).toEqual(record);
  });

  it('answers User.Mismatch when the record has no email at all', async () => {
    // Prepare
    const connector = new FakeConnector({ record: userRecord({ email: '' }) });

    // Act
    const error = await rejectionOf(runWith(connector, GET_RECORD));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.mismatch);
  });

  it('answers User.Protected for an active account that owns the integration credential', async () => {
    // Prepare
    const connector = new FakeConnector({ integration: true });

    // Act
    const error = await rejectionOf(runWith(connector, GET_RECORD));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.protected);
    expect(error.message).toMatch(/^insightly-test: user 1002 /);
    expect(connector.methods()).toEqual(['getUser', 'isIntegrationAccount']);
    expect(connector.methods()).not.toContain('deactivateUser');
  });

  it('skips the integration check for an account that is already inactive', async () => {
    // Prepare: even the credential's owner is fine to report when there is nothing to write.
    const record = userRecord({ active: false });
    const connector = new FakeConnector({ record, integration: true });

    // Act
    const result = await runWith(connector, GET_RECORD);

    // Assess
    expect(result).toEqual(record);
    expect(connector.methods()).toEqual(['getUser']);
  });
});

describe('runStep: deactivate', () => {
  it('writes nothing on a dry run', async () => {
    // Prepare
    const connector = new FakeConnector();

    // Act
    const result = await runWith(connector, {
      step: 'deactivate',
      connection: CONNECTION,
      email: EMAIL,
      record: userRecord(),
      dryRun: true,
    });

    // Assess
    expect(result).toEqual({ userId: '1002', written: false });
    expect(connector.calls).toEqual([]);
  });

  it('hands the record, every field included, to the connector on a real run', async () => {
    // Prepare
    const record = userRecord();
    const connector = new FakeConnector();

    // Act
    const result = await runWith(connector, {
      step: 'deactivate',
      connection: CONNECTION,
      email: EMAIL,
      record,
      dryRun: false,
    });

    // Assess
    expect(result).toEqual({ userId: '1002', written: true });
    expect(connector.calls).toEqual([{ method: 'deactivateUser', arg: record }]);
  });
});

describe('runStep: verify', () => {
  it('answers the user id and active: false once the connector sees the account off', async () => {
    // Prepare
    const connector = new FakeConnector();

    // Act
    const result = await runWith(connector, VERIFY);

    // Assess
    expect(result).toEqual({ userId: '1002', active: false });
    expect(connector.calls).toEqual([{ method: 'verifyDeactivated', arg: '1002' }]);
  });

  it('lets Vendor.NotYetApplied through for the state machine to retry', async () => {
    // Prepare
    const connector = new FakeConnector({
      verifyError: new NotYetAppliedError('insightly-test: verify user 1002: still ACTIVE after the write'),
    });

    // Act
    const error = await rejectionOf(runWith(connector, VERIFY));

    // Assess
    expect(error.name).toBe(ERROR_NAMES.notYetApplied);
  });
});
