import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_TYPES } from '../../lambdas/shared/connections';
import { type ConfigFile, loadConfigFile } from '../../lib/config';
import {
  OFFBOARD_AUDIT_ASL,
  OFFBOARD_BULK_ASL,
  OFFBOARD_USER_ASL,
  OffboardStack,
} from '../../lib/offboard-stack';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The feature flags `cdk synth` uses, so the tests see the same template the CLI makes. */
const CDK_CONTEXT = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;
const EU_SECRET_NAME = 'prod/insightly-eu-api-key';
const COMPLETE_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/insightly-AbCdEf';

type Json = Record<string, unknown>;
type Statement = { Action: string | string[]; Resource: unknown };

/**
 * An app like bin/app.ts makes. Only the stack whose code a test looks at is bundled (esbuild
 * per function); the others get placeholder code, which keeps the file fast.
 */
function newApp(options: { bundle?: boolean; nag?: boolean; outdir?: string } = {}): App {
  const context = options.bundle ? CDK_CONTEXT : { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] };
  const app = new App({ context, ...(options.outdir ? { outdir: options.outdir } : {}) });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

type ValidationReport = {
  pluginReports: {
    pluginName: string;
    violations?: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
};

function readReport(directory: string): ValidationReport {
  return JSON.parse(readFileSync(join(directory, 'validation-report.json'), 'utf8')) as ValidationReport;
}

/** `[rule, construct paths]` of every violation in the report. */
function violations(report: ValidationReport): [string, string[]][] {
  return report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? []).map((v): [string, string[]] => [
      v.ruleName,
      v.violatingConstructs.map((c) => c.constructPath),
    ]),
  );
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`test setup: no ${what}`);
  return value;
}

function logicalId(stack: OffboardStack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** Every statement of every inline policy attached to the role. */
function roleStatements(template: Template, roleLogicalId: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Json[];
  return policies
    .filter(
      (policy) =>
        JSON.stringify((policy.Properties as Json).Roles) === JSON.stringify([{ Ref: roleLogicalId }]),
    )
    .flatMap(
      (policy) => ((policy.Properties as Json).PolicyDocument as { Statement: Statement[] }).Statement,
    );
}

function actions(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** A `Fn::Join` that builds a JSON string, parsed, with each `Ref` replaced by `ref:<logical id>`. */
function parseJoinedJson(value: unknown): unknown {
  const parts = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return JSON.parse(
    parts.map((part) => (typeof part === 'string' ? part : `ref:${(part as { Ref: string }).Ref}`)).join(''),
  );
}

describe('OffboardStack with config/connections.json', () => {
  let stack: OffboardStack;
  let template: Template;
  let assembly: CloudAssembly;

  beforeAll(() => {
    // Prepare: the default config (one connection with a secret to create, one referenced)
    const app = newApp({ bundle: true, nag: true });
    stack = new OffboardStack(app, 'Offboard', {
      config: loadConfigFile(join(REPO_ROOT, 'config/connections.json')),
    });

    // Act: synthesize once; cdk-nag runs here and throws on any unacknowledged finding
    assembly = app.synth();
    template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
  });

  it('has no unacknowledged cdk-nag finding', () => {
    // Assess: synth did not throw, and the validation report lists no violation at all
    expect(violations(readReport(assembly.directory))).toEqual([]);
  });

  it('runs every function on Node.js 22, ARM, with X-Ray and JSON logs into a retained log group', () => {
    // Assess
    // normalize, summarize, record, claim, restore plan, one connector; normalize-bulk,
    // summarize-bulk; audit page, audit tally
    template.resourceCountIs('AWS::Lambda::Function', 10);
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function')) as Json[]) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) } },
        Timeout: 30,
        MemorySize: 256,
        Environment: {
          Variables: { POWERTOOLS_SERVICE_NAME: 'offboard', NODE_OPTIONS: '--enable-source-maps' },
        },
      });
    }
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain' });
  });

  it('bundles each handler as ESM with a require shim and a source map', () => {
    // Prepare
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Json[];

    for (const fn of functions) {
      // Act: the asset directory the S3 key points at
      const key = ((fn.Properties as Json).Code as { S3Key: string }).S3Key;
      const dir = join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);

      // Assess
      expect(readFileSync(join(dir, 'index.mjs'), 'utf8')).toMatch(
        /^import \{ createRequire \} from 'module';/,
      );
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
    }
  });

  it('lets the insightly connector read exactly the insightly secrets', () => {
    // Prepare
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    const created = required(stack.secrets.get('insightly-prod'), 'insightly-prod secret');

    // Act
    const statements = roleStatements(template, logicalId(stack, connector.role)).filter((s) =>
      actions(s).some((a) => a.startsWith('secretsmanager:')),
    );

    // Assess
    expect(statements).toHaveLength(1);
    expect(actions(statements[0] as Statement).sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
    const resources = asList(statements[0]?.Resource).map((r) => JSON.stringify(r));
    expect(resources).toHaveLength(2);
    expect(resources).toContain(JSON.stringify({ Ref: logicalId(stack, created) }));
    expect(resources.some((r) => r.includes(`:secret:${EU_SECRET_NAME}-??????`))).toBe(true);
  });

  it('gives normalize and summarize no secretsmanager permission and no managed policy', () => {
    for (const fn of [stack.normalizeFunction, stack.summarizeFunction]) {
      // Act
      const roleId = logicalId(stack, fn.role);
      const statements = roleStatements(template, roleId);

      // Assess
      expect(statements.length).toBeGreaterThan(0);
      expect(
        statements.flatMap(actions).filter((a) => a.toLowerCase().startsWith('secretsmanager:')),
      ).toEqual([]);
      expect(template.findResources('AWS::IAM::Role')[roleId]?.Properties).not.toHaveProperty(
        'ManagedPolicyArns',
      );
    }
  });

  it('tells normalize every connection: base URL, secret id and connector function, no secret', () => {
    // Prepare
    const normalize = required(
      template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.normalizeFunction.function)],
      'normalize function',
    );
    const connectorId = logicalId(
      stack,
      required(stack.connectorFunctions.get('insightly'), 'connector').function,
    );

    // Act
    const value = (normalize.Properties as { Environment: { Variables: Json } }).Environment.Variables
      .OFFBOARD_CONNECTIONS;

    // Assess
    expect(parseJoinedJson(value)).toEqual([
      {
        name: 'insightly-prod',
        type: 'insightly',
        baseUrl: 'https://api.na1.insightly.com/v3.1',
        // Insightly's documented 10 requests a second, kept across executions.
        rateLimit: { requests: 10, perSeconds: 1 },
        secretId: `ref:${logicalId(stack, required(stack.secrets.get('insightly-prod'), 'secret'))}`,
        functionName: `ref:${connectorId}`,
      },
      {
        name: 'insightly-eu',
        type: 'insightly',
        baseUrl: 'https://api.eu1.insightly.com/v3.1',
        rateLimit: { requests: 10, perSeconds: 1 },
        secretId: EU_SECRET_NAME,
        functionName: `ref:${connectorId}`,
      },
    ]);
  });

  it('traces and logs the state machine at level ALL without execution data', () => {
    // Assess
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
  });

  it('lets the state machine invoke its own functions and every connector, and nothing else', () => {
    // Prepare
    const stateMachine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0] as Json;
    const roleId = ((stateMachine.Properties as Json).RoleArn as { 'Fn::GetAtt': [string, string] })[
      'Fn::GetAtt'
    ][0];
    const functions = [
      stack.normalizeFunction,
      stack.summarizeFunction,
      stack.recordFunction,
      stack.claimFunction,
      stack.restorePlanFunction,
      ...stack.connectorFunctions.values(),
    ];

    // Act
    const invoke = roleStatements(template, roleId).filter((s) =>
      actions(s).includes('lambda:InvokeFunction'),
    );

    // Assess
    expect(invoke).toHaveLength(1);
    expect(asList(invoke[0]?.Resource)).toEqual(
      expect.arrayContaining(functions.map((f) => ({ 'Fn::GetAtt': [logicalId(stack, f.function), 'Arn'] }))),
    );
    expect(asList(invoke[0]?.Resource)).toHaveLength(functions.length);
  });

  it('publishes tasks for people to an encrypted, TLS-only topic the state machine alone may publish to', () => {
    // Assess
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    const publishers = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([, policy]) => JSON.stringify(policy).includes('sns:Publish'))
      .map(([id]) => id);
    expect(publishers).toHaveLength(1);
    expect(publishers[0]).toMatch(/^OffboardUserRole/);
  });

  it('keeps the ledger: retained, recoverable, encrypted; record writes entries, claim touches claims, restore plan reads', () => {
    // Assess
    const ledger = template.findResources('AWS::DynamoDB::Table')[
      logicalId(stack, stack.ledgerTable)
    ] as Json;
    expect(ledger).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      },
    });
    const onLedger = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap(
        (policy) => ((policy.Properties as Json).PolicyDocument as { Statement: Statement[] }).Statement,
      )
      .filter((statement) =>
        JSON.stringify(statement.Resource).includes(logicalId(stack, stack.ledgerTable)),
      );
    const ledgerStatements = (fn: { role: unknown }) =>
      roleStatements(template, logicalId(stack, fn.role as never)).filter((s) =>
        JSON.stringify(s.Resource).includes(logicalId(stack, stack.ledgerTable)),
      );
    expect(ledgerStatements(stack.recordFunction).flatMap(actions)).toEqual(['dynamodb:PutItem']);
    expect(ledgerStatements(stack.claimFunction).flatMap(actions).sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    // Nobody else may touch the evidence (and nobody may delete it).
    expect(ledgerStatements(stack.restorePlanFunction).flatMap(actions)).toEqual(['dynamodb:Query']);
    expect(ledgerStatements(stack.audit.page).flatMap(actions)).toEqual(['dynamodb:Scan']);
    expect(ledgerStatements(stack.audit.tally).flatMap(actions)).toEqual(['dynamodb:PutItem']);
    const readers = [
      stack.recordFunction,
      stack.claimFunction,
      stack.restorePlanFunction,
      stack.audit.page,
      stack.audit.tally,
    ];
    expect(onLedger.length).toBe(readers.reduce((n, fn) => n + ledgerStatements(fn).length, 0));
    expect(onLedger.flatMap(actions)).not.toContain('dynamodb:DeleteItem');
  });

  it('raises an alarm on a failed or partial offboarding, and on a failed execution', () => {
    // failed or partial offboarding, failed execution, audit drift
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(stack, stack.summarizeFunction.logGroup) },
      FilterPattern: Match.stringLikeRegexp('offboarding summarized.*failed.*partial'),
      MetricTransformations: [
        Match.objectLike({ MetricName: 'OffboardingsNotSucceeded', MetricNamespace: 'offboard' }),
      ],
    });
    // No alertEmails in this config: no topic for alarms, no alarm actions.
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain('AlarmActions');
  });

  it('lets the state machine publish "Offboarding Finished" on the default bus', () => {
    const role = roleStatements(template, logicalId(stack, stack.stateMachine.role as never));
    const put = role.filter((s) => actions(s).includes('events:PutEvents'));
    expect(JSON.stringify(put)).toContain(':event-bus/default');
  });

  it('runs the audit daily by default, reporting drift without remediation', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 * * ? *)',
      Target: Match.objectLike({
        Arn: { Ref: logicalId(stack, stack.audit.stateMachine) },
        Input: '{"remediate":false}',
      }),
    });
  });

  it('starts OffboardUser on "Employee Terminated" events from the default bus', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { 'detail-type': ['Employee Terminated'] },
      Targets: [Match.objectLike({ Arn: { Ref: logicalId(stack, stack.stateMachine) } })],
    });
    expect(JSON.stringify(template.findResources('AWS::Events::Rule'))).not.toContain('EventBusName');
  });

  it('keeps a pacing table the connectors alone may read and write, item by item', () => {
    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expires', Enabled: true },
    });
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    const pacing = roleStatements(template, logicalId(stack, connector.role)).filter((s) =>
      actions(s).some((a) => a.startsWith('dynamodb:')),
    );
    expect(pacing.flatMap(actions).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    for (const fn of [stack.normalizeFunction, stack.summarizeFunction]) {
      expect(
        roleStatements(template, logicalId(stack, fn.role))
          .flatMap(actions)
          .filter((a) => a.startsWith('dynamodb:')),
      ).toEqual([]);
    }
  });

  it('lets the bulk workflow start offboard-user executions, and read and write only its bucket', () => {
    // Prepare
    const role = logicalId(stack, stack.bulk.stateMachine.role as never);
    // Act
    const statements = roleStatements(template, role);
    // Assess
    const starts = statements.filter((s) => actions(s).includes('states:StartExecution'));
    expect(JSON.stringify(starts)).toContain(logicalId(stack, stack.stateMachine));
    const s3 = statements.filter((s) => actions(s).some((a) => a.startsWith('s3:')));
    expect(JSON.stringify(s3.map((s) => s.Resource))).toContain(logicalId(stack, stack.bulk.bucket));
    expect(s3.flatMap(actions)).not.toContain('s3:DeleteObject');
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: Match.anyValue(),
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
    });
  });

  it('creates the secret without secretId and only references the one with secretId', () => {
    // Assess
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'offboard/insightly-prod',
      SecretString: '{}',
    });
    expect(JSON.stringify(template.findResources('AWS::SecretsManager::Secret'))).not.toContain(
      EU_SECRET_NAME,
    );
    template.hasOutput('SecretNameInsightlyProd', {
      Value: 'offboard/insightly-prod',
      Description: Match.stringLikeRegexp('put-secret-value --secret-id offboard/insightly-prod'),
    });
    template.hasOutput('StateMachineArn', { Value: { Ref: logicalId(stack, stack.stateMachine) } });
  });

  it.each([
    ['offboard-user', OFFBOARD_USER_ASL, () => stack.stateMachine],
    ['offboard-bulk', OFFBOARD_BULK_ASL, () => stack.bulk.stateMachine],
    ['offboard-audit', OFFBOARD_AUDIT_ASL, () => stack.audit.stateMachine],
  ] as const)('provides every definition substitution %s uses, and only those', (_name, file, machine) => {
    // Prepare
    const asl = readFileSync(file, 'utf8');
    expect(() => JSON.parse(asl)).not.toThrow();

    // Act
    const used = new Set([...asl.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]));
    const stateMachine = template.findResources('AWS::StepFunctions::StateMachine')[
      logicalId(stack, machine())
    ] as Json;
    const provided = Object.keys((stateMachine.Properties as Json).DefinitionSubstitutions as Json);

    // Assess
    expect(used.size).toBeGreaterThan(0);
    expect([...used].sort()).toEqual(provided.sort());
  });
});

describe('OffboardStack with other configs', () => {
  it('grants a connector only the secret named by a complete ARN, and creates none', () => {
    // Prepare
    const config: ConfigFile = {
      connections: [
        {
          name: 'crm',
          type: 'insightly',
          baseUrl: 'https://api.na1.insightly.com/v3.1',
          secretId: COMPLETE_ARN,
        },
      ],
    };
    const stack = new OffboardStack(newApp(), 'Offboard', { config });

    // Act
    const template = Template.fromStack(stack);
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    const statements = roleStatements(template, logicalId(stack, connector.role)).filter((s) =>
      actions(s).includes('secretsmanager:GetSecretValue'),
    );

    // Assess
    expect(statements.map((s) => s.Resource)).toEqual([COMPLETE_ARN]);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // normalize, summarize, record, claim, restore plan, one connector; normalize-bulk,
    // summarize-bulk; audit page, audit tally
    template.resourceCountIs('AWS::Lambda::Function', 10);
    expect(Object.keys(template.findOutputs('*'))).toEqual([
      'TaskTopicArn',
      'BulkStateMachineArn',
      'BulkBucketName',
      'AuditStateMachineArn',
      'LedgerTableName',
      'StateMachineArn',
    ]);
  });

  it('refuses a connection without baseUrl, naming it', () => {
    // Prepare
    const config: ConfigFile = { connections: [{ name: 'no-url', type: 'insightly' }] };

    // Act
    const synth = () => new OffboardStack(newApp(), 'Offboard', { config });

    // Assess
    expect(synth).toThrow(/connection 'no-url': baseUrl is required to deploy/);
  });

  it('warns about an inline secret and keeps it out of the template', () => {
    // Prepare
    const config: ConfigFile = {
      connections: [
        {
          name: 'crm',
          type: 'insightly',
          baseUrl: 'https://api.na1.insightly.com',
          secret: { apiKey: 'do-not-deploy-me' },
        },
      ],
    };
    const stack = new OffboardStack(newApp({ nag: true }), 'Offboard', { config });

    // Act
    const template = Template.fromStack(stack);

    // Assess
    Annotations.fromStack(stack).hasWarning(
      '/Offboard',
      Match.stringLikeRegexp("connection 'crm'.*not deployed"),
    );
    expect(JSON.stringify(template.toJSON())).not.toContain('do-not-deploy-me');
  });

  it('fails the synth on a cdk-nag finding nobody acknowledged', () => {
    // Prepare: a secret without rotation and without an acknowledgment
    const outdir = mkdtempSync(join(tmpdir(), 'offboard-nag-'));
    const app = newApp({ nag: true, outdir });
    const stack = new OffboardStack(app, 'Offboard', {
      config: loadConfigFile(join(REPO_ROOT, 'config/connections.json')),
    });
    new Secret(stack, 'Unacknowledged');

    // Act
    const synth = () => app.synth();

    // Assess: the error and the report name this finding, and only this one
    expect(synth).toThrow(/Offboard\/Unacknowledged\/Resource[\s\S]*AwsSolutions-SMG4/);
    expect(violations(readReport(outdir))).toEqual([
      ['AwsSolutions-SMG4', ['Offboard/Unacknowledged/Resource']],
    ]);
  });
});

describe('OffboardStack with every connection type', () => {
  it('bundles one connector function a type, each reading only its own secrets, with cdk-nag clean', () => {
    // Prepare: one connection of each type, all secrets created by the stack
    const caCert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const config: ConfigFile = {
      connections: CONNECTION_TYPES.map((type) => ({
        name: `${type}-prod`,
        type,
        baseUrl: `https://${type}.example.com`,
        ...(type === 'rapid7-insightvm' ? { tls: { caCert } } : {}),
      })),
    };
    const app = newApp({ bundle: true, nag: true });
    const stack = new OffboardStack(app, 'Offboard', { config });

    // Act
    const assembly = app.synth();
    const template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);

    // Assess
    expect(violations(readReport(assembly.directory))).toEqual([]);
    template.resourceCountIs('AWS::Lambda::Function', CONNECTION_TYPES.length + 9);
    for (const type of CONNECTION_TYPES) {
      const connector = required(stack.connectorFunctions.get(type), `${type} connector`);
      const reads = roleStatements(template, logicalId(stack, connector.role))
        .filter((s) => actions(s).includes('secretsmanager:GetSecretValue'))
        .map((s) => JSON.stringify(s.Resource));
      const own = logicalId(stack, required(stack.secrets.get(`${type}-prod`), `${type} secret`) as never);
      expect(reads, type).toEqual([JSON.stringify({ Ref: own })]);
    }
    const normalize = Object.values(template.findResources('AWS::Lambda::Function')).find((fn) =>
      JSON.stringify(fn).includes('OFFBOARD_CONNECTIONS'),
    );
    expect(JSON.stringify(normalize)).toContain('BEGIN CERTIFICATE');
  }, 120_000);
});

describe('OffboardStack with alert emails', () => {
  it('mails the alarms through an encrypted topic CloudWatch may use', () => {
    const config: ConfigFile = {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' }],
      alertEmails: ['it-ops@example.com'],
    };
    const app = newApp({ nag: true });
    const stack = new OffboardStack(app, 'Offboard', { config });
    const assembly = app.synth();
    const template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
    expect(violations(readReport(assembly.directory))).toEqual([]);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'it-ops@example.com',
    });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect((alarm.Properties as Json).AlarmActions).toHaveLength(1);
    }
  });
});
