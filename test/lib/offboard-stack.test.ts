import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { App, type CfnElement, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_TYPES } from '../../lambdas/shared/connections';
import { endpointOf } from '../../lambdas/shared/deployed';
import { type ConfigFile, ConfigFileError, loadConfigFile } from '../../lib/config';
import { MAX_BUNDLED_CONNECTIONS_BYTES } from '../../lib/constructs/offboard-function';
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
/** What every deployable config needs besides its connections: where HR events come from. */
const HR: Pick<ConfigFile, 'hrEvents'> = { hrEvents: { sources: ['com.example.hr'] } };
const CA_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
/** One connection of every type, every optional feature on: the widest template we make. */
const WIDE_CONFIG: ConfigFile = {
  connections: CONNECTION_TYPES.map((type) => ({
    name: `${type}-prod`,
    type,
    baseUrl: `https://${type}.example.com`,
    ...(type === 'rapid7-insightvm' ? { tls: { caCert: CA_CERT } } : {}),
  })),
  taskEmails: ['it-tasks@example.com'],
  alertEmails: ['it-ops@example.com'],
  audit: { schedule: 'rate(12 hours)', remediate: true },
  resultBusName: 'results',
  hrEvents: { busName: 'hr', sources: ['com.example.hr', 'com.example.hr.eu'] },
};

type Json = Record<string, unknown>;
type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

/**
 * The one statement that lets a connector read the secrets the stack created for its type:
 * names under Offboard/ (the stack's name), created by this very stack, tagged with the type.
 */
function createdSecretsStatement(type: string): Statement & { Effect: string } {
  return {
    Effect: 'Allow',
    Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
    Resource: {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':secretsmanager:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':secret:Offboard/*',
        ],
      ],
    },
    Condition: {
      StringEquals: {
        'aws:ResourceTag/aws:cloudformation:stack-id': { Ref: 'AWS::StackId' },
        'aws:ResourceTag/offboard:connection-type': type,
      },
    },
  };
}

/** The properties of one resource of the template. */
function propertiesOf(template: Template, type: string, id: string): Json {
  return (required(template.findResources(type)[id], `${type} ${id}`) as Json).Properties as Json;
}

/** The secretsmanager statements of a role, actions sorted. */
function secretStatements(template: Template, roleLogicalId: string): Statement[] {
  return roleStatements(template, roleLogicalId)
    .filter((s) => actions(s).some((a) => a.startsWith('secretsmanager:')))
    .map((s) => ({ ...s, Action: actions(s).sort() }));
}

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

/**
 * `[rule, construct paths]` of every violation in the report, but our own advice to whoever
 * deploys (`offboard:` warnings, such as no taskEmails: tested where they are given).
 */
function violations(report: ValidationReport): [string, string[]][] {
  return report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? [])
      .filter((v) => !v.ruleName.startsWith('Annotation::offboard:'))
      .map((v): [string, string[]] => [v.ruleName, v.violatingConstructs.map((c) => c.constructPath)]),
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

/** The directory of a bundled function's code in the cloud assembly. */
function assetDirectory(assembly: CloudAssembly, fn: Json): string {
  const key = ((fn.Properties as Json).Code as { S3Key: string }).S3Key;
  return join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
}

/**
 * The connection list compiled into a bundled function: the string literal esbuild put in
 * place of `process.env.OFFBOARD_CONNECTIONS`, evaluated and parsed. Undefined when the
 * bundle holds none.
 */
function bundledConnections(assembly: CloudAssembly, fn: Json): Json[] | undefined {
  const code = readFileSync(join(assetDirectory(assembly, fn), 'index.mjs'), 'utf8');
  const start = code.search(/\[\{\\?"name\\?":/);
  if (start < 1) return undefined;
  // The literal's own quote (esbuild picks one); find its unescaped end and let JS read it.
  const quote = code[start - 1];
  let end = start;
  while (end < code.length && code[end] !== quote) end += code[end] === '\\' ? 2 : 1;
  return JSON.parse(runInNewContext(code.slice(start - 1, end + 1)) as string) as Json[];
}

/** The function resource of an OffboardFunction. */
function functionResource(template: Template, stack: OffboardStack, fn: { function: unknown }): Json {
  const id = logicalId(stack, fn.function as never);
  return required(template.findResources('AWS::Lambda::Function')[id], `function ${id}`) as Json;
}

/** The S3 object ARN pattern `<bucket>/<prefix>` as the template writes it. */
function objectsOf(
  stack: OffboardStack,
  bucket: { node: { defaultChild?: unknown } },
  prefix: string,
): unknown {
  return { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(stack, bucket), 'Arn'] }, `/${prefix}`]] };
}

/** The S3 statements of a role: `[actions, resources]`, each sorted for comparison. */
function s3Grants(template: Template, stack: OffboardStack, fn: { role: unknown }): [string[], unknown[]][] {
  return roleStatements(template, logicalId(stack, fn.role as never))
    .filter((s) => actions(s).some((a) => a.startsWith('s3:')))
    .map((s): [string[], unknown[]] => [
      actions(s).sort(),
      asList(s.Resource).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ]);
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
  }, 180_000); // bundles 14 functions and runs cdk-nag: on two busy cores, near the default hook's 60 s

  it('has no unacknowledged cdk-nag finding', () => {
    // Assess: synth did not throw, and the validation report lists no violation at all
    expect(violations(readReport(assembly.directory))).toEqual([]);
  });

  it('runs every function on Node.js 22, ARM, with X-Ray and JSON logs into a retained log group', () => {
    // Assess
    // normalize, summarize, record, claim, restore plan, one connector; normalize-bulk,
    // summarize-bulk; audit page, audit tally; task notify, page and remind; brake
    template.resourceCountIs('AWS::Lambda::Function', 14);
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function')) as Json[]) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) } },
        Environment: {
          Variables: { POWERTOOLS_SERVICE_NAME: 'offboard', NODE_OPTIONS: '--enable-source-maps' },
        },
      });
    }
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain' });
  });

  it('gives connectors the time and memory of a bulk step (a whole user list, a minute of work), the rest 30 s', () => {
    // Assess: a bulk or audit step may take 150 s (its Task's TimeoutSeconds); the function must not stop first
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Json[];
    const connectors = functions.filter(
      (fn) => String((fn.Properties as Json).FunctionName ?? '').length > 0,
    );
    expect(connectors.length).toBeGreaterThan(0);
    for (const fn of functions) {
      const connector = connectors.includes(fn);
      expect(fn.Properties).toMatchObject(
        connector ? { Timeout: 150, MemorySize: 1024 } : { Timeout: 30, MemorySize: 256 },
      );
    }
    const bulk = JSON.parse(readFileSync(OFFBOARD_BULK_ASL, 'utf8'));
    const steps = bulk.States['Each connection'].ItemProcessor.States;
    for (const name of ['Offboard the list', 'Verify the list', 'Settle the list']) {
      expect(steps[name].TimeoutSeconds).toBeLessThanOrEqual(150);
    }
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

  it('lets the insightly connector read exactly the insightly secrets: the one it created by stack and type, the given one by its ARN', () => {
    // Prepare
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    const created = required(stack.secrets.get('insightly-prod'), 'insightly-prod secret');

    // Act
    const statements = secretStatements(template, logicalId(stack, connector.role));

    // Assess: the secret the stack created is read through the statement every created
    // secret of the type shares, which asks for the tags CloudFormation and the stack put on it ...
    expect(statements).toHaveLength(2);
    expect(statements).toContainEqual(createdSecretsStatement('insightly'));
    expect(propertiesOf(template, 'AWS::SecretsManager::Secret', logicalId(stack, created)).Tags).toEqual([
      { Key: 'offboard:connection-type', Value: 'insightly' },
    ]);
    // ... and the operator's own secret by its name, exactly, with Secrets Manager's suffix
    const given = statements.filter((s) => s.Condition === undefined);
    expect(given.map((s) => [s.Action, asList(s.Resource).length])).toEqual([
      [['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], 1],
    ]);
    expect(JSON.stringify(given[0]?.Resource)).toContain(`:secret:${EU_SECRET_NAME}-??????`);
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

  it('compiles each function its own connections, in its bundle and in no environment variable', () => {
    // Prepare
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Json[];
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    const rateLimit = { requests: 10, perSeconds: 1 }; // Insightly's documented 10 a second
    const compiled = (fn: { function: unknown }) =>
      bundledConnections(assembly, functionResource(template, stack, fn));

    // Act
    const inEnvironment = functions.filter((fn) =>
      JSON.stringify((fn.Properties as Json).Environment).includes('OFFBOARD_CONNECTIONS'),
    );

    // Assess: the connector holds where to go and which secret to read (the created secret by
    // its name, known before deploy) ...
    expect(inEnvironment).toEqual([]);
    expect(functionResource(template, stack, connector).Properties).toMatchObject({
      FunctionName: 'Offboard-insightly',
    });
    expect(compiled(connector)).toEqual([
      {
        name: 'insightly-prod',
        type: 'insightly',
        baseUrl: 'https://api.na1.insightly.com/v3.1',
        secretId: 'Offboard/insightly-prod',
        functionName: 'Offboard-insightly',
        rateLimit,
      },
      {
        name: 'insightly-eu',
        type: 'insightly',
        baseUrl: 'https://api.eu1.insightly.com/v3.1',
        secretId: EU_SECRET_NAME,
        functionName: 'Offboard-insightly',
        rateLimit,
      },
    ]);
    // ... the functions that route connections know only which function runs each, its pace,
    // and which tenant it reaches as a digest (for the ledger), never where it is
    const endpoint = (type: string, baseUrl: string) => endpointOf({ type, baseUrl });
    for (const fn of [stack.normalizeFunction, stack.bulk.checkList, stack.audit.page]) {
      expect(compiled(fn), fn.node.id).toEqual([
        {
          name: 'insightly-prod',
          type: 'insightly',
          functionName: 'Offboard-insightly',
          rateLimit,
          endpoint: endpoint('insightly', 'https://api.na1.insightly.com/v3.1'),
        },
        {
          name: 'insightly-eu',
          type: 'insightly',
          functionName: 'Offboard-insightly',
          rateLimit,
          endpoint: endpoint('insightly', 'https://api.eu1.insightly.com/v3.1'),
        },
      ]);
      expect(JSON.stringify(compiled(fn))).not.toContain('insightly.com');
    }
    for (const fn of [
      stack.summarizeFunction,
      stack.recordFunction,
      stack.claimFunction,
      stack.audit.tally,
    ]) {
      expect(compiled(fn), fn.node.id).toBeUndefined();
    }
  });

  it('traces and logs the state machine at level ALL without execution data', () => {
    // Assess
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
  });

  it('lets the state machine invoke its own functions, task-notify, the brake and every connector, and nothing else', () => {
    // Prepare
    const roleId = logicalId(stack, stack.stateMachine.role as never);
    const functions = [
      stack.normalizeFunction,
      stack.summarizeFunction,
      stack.recordFunction,
      stack.claimFunction,
      stack.restorePlanFunction,
      stack.tasks.notify,
      stack.brakeFunction,
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

  it('publishes tasks for people to an encrypted, TLS-only topic only task-notify and the reminder may publish to', () => {
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
    const publishers = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy).includes('sns:Publish'))
      .map((policy) => (policy.Properties as { Roles: { Ref: string }[] }).Roles[0]?.Ref);
    // "Ask a person" calls task-notify: the state machine publishes nothing itself
    expect(readFileSync(OFFBOARD_USER_ASL, 'utf8')).not.toContain('sns:publish');
    expect(publishers.sort()).toEqual(
      [logicalId(stack, stack.tasks.notify.role), logicalId(stack, stack.tasks.remind.role)].sort(),
    );
  });

  it('keeps the ledger: retained, recoverable, encrypted; connectors and record write entries, claim touches claims, restore plan reads', () => {
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
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    // Write-ahead evidence: the connector records its intent, with the before-state, itself;
    // and a reactivation reads what to restore from the ledger, not from its payload.
    // Nobody may delete or change an entry.
    // The audit's directory check reads which accounts the ledger says are off (a Scan).
    expect(ledgerStatements(connector).flatMap(actions).sort()).toEqual([
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Scan',
    ]);
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
    // Tasks live beside the entries (pk task#<id>): opened or joined and answered by one
    // conditional update each. An open task's reminder index item is in the task-due partition
    // (put on opening, deleted on the answer or the reminder), which the reminder Queries:
    // never a Scan, which names no partition key for dynamodb:LeadingKeys to limit. The brake
    // keeps its state item and its records in a partition of its own (Query)
    const leadingKeys = (s: Statement) =>
      (s.Condition as { 'ForAllValues:StringLike'?: { 'dynamodb:LeadingKeys'?: string[] } })?.[
        'ForAllValues:StringLike'
      ]?.['dynamodb:LeadingKeys'];
    const grants = (fn: { role: unknown }) =>
      ledgerStatements(fn)
        .map((s) => [leadingKeys(s), actions(s).sort()])
        .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    expect(grants(stack.tasks.notify)).toEqual([
      [['task#*'], ['dynamodb:GetItem', 'dynamodb:UpdateItem']],
      [['task-due'], ['dynamodb:PutItem']],
    ]);
    expect(grants(stack.tasks.page)).toEqual([
      [['task#*'], ['dynamodb:GetItem', 'dynamodb:UpdateItem']],
      [['task-due'], ['dynamodb:DeleteItem']],
    ]);
    expect(grants(stack.tasks.remind)).toEqual([
      [['task#*'], ['dynamodb:GetItem', 'dynamodb:UpdateItem']],
      [['task-due'], ['dynamodb:DeleteItem', 'dynamodb:Query']],
    ]);
    // The brake keeps its state and records under `brake`, reads whether a pause's task is
    // answered, and reads a person's history (reactivated since the run started: it stops)
    expect(grants(stack.brakeFunction)).toEqual([
      [['brake'], ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']],
      [['person#*'], ['dynamodb:Query']],
      [['task#*'], ['dynamodb:GetItem']],
    ]);
    const readers = [
      connector,
      stack.recordFunction,
      stack.claimFunction,
      stack.restorePlanFunction,
      stack.audit.page,
      stack.audit.tally,
      stack.tasks.notify,
      stack.tasks.page,
      stack.tasks.remind,
      stack.brakeFunction,
    ];
    expect(onLedger.length).toBe(readers.reduce((n, fn) => n + ledgerStatements(fn).length, 0));
    // Nobody may delete an entry: the only deletes are of reminder index items
    expect(onLedger.filter((s) => actions(s).includes('dynamodb:DeleteItem')).map(leadingKeys)).toEqual([
      ['task-due'],
      ['task-due'],
    ]);
  });

  it('raises an alarm on a failed or partial offboarding, and on a failed execution', () => {
    // failed or partial offboarding, failed execution of each of the three state machines,
    // audit drift, HR event not delivered, HR event in the dead-letter queue
    template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
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

  it('starts OffboardUser only on "Employee Terminated" from the HR sources of this account, retried, with a dead-letter queue', () => {
    // Prepare
    const hr = required(stack.hrEvents, 'HR rule');
    const queue = logicalId(stack, hr.deadLetterQueue);

    // Assess: the pattern, exactly (anything else on the bus, or another account, is ignored)
    const rules = Object.values(template.findResources('AWS::Events::Rule')) as Json[];
    expect(rules).toHaveLength(1);
    const rule = required(rules[0], 'rule').Properties as Json;
    expect(rule.EventPattern).toEqual({
      'detail-type': ['Employee Terminated'],
      source: ['com.example.hr'],
      account: [{ Ref: 'AWS::AccountId' }],
    });
    expect(rule).not.toHaveProperty('EventBusName');
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { Ref: logicalId(stack, stack.stateMachine) },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queue, 'Arn'] } },
      }),
    ]);
    // The queue: encrypted, TLS only, 14 days to act on what is in it, fed by this rule only
    expect(template.findResources('AWS::SQS::Queue')[queue]?.Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'sqs:SendMessage',
            Principal: { Service: 'events.amazonaws.com' },
            Condition: {
              ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(stack, hr.rule), 'Arn'] } },
            },
          }),
        ]),
      },
    });
    // Both ways an event can be lost raise an alarm
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Events',
      MetricName: 'FailedInvocations',
      Dimensions: [{ Name: 'RuleName', Value: { Ref: logicalId(stack, hr.rule) } }],
      Threshold: 1,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
      Threshold: 1,
    });
  });

  it('keeps before-states too large for the ledger in a versioned, encrypted, retained bucket, under evidence/, and lets connectors keep work objects beside them', () => {
    // Prepare
    const bucket = logicalId(stack, stack.evidenceBucket);
    const evidence = objectsOf(stack, stack.evidenceBucket, 'evidence/*');
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    const told = {
      OFFBOARD_EVIDENCE_BUCKET: { Ref: bucket },
      OFFBOARD_LEDGER_TABLE: { Ref: logicalId(stack, stack.ledgerTable) },
    };

    // Assess: the bucket
    expect(template.findResources('AWS::S3::Bucket')[bucket]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucket },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasOutput('EvidenceBucketName', { Value: { Ref: bucket } });
    // Who is told where it is, and may do what there
    for (const fn of [connector, stack.recordFunction, stack.restorePlanFunction, stack.audit.tally]) {
      expect(
        (functionResource(template, stack, fn).Properties as { Environment: { Variables: Json } }).Environment
          .Variables,
        fn.node.id,
      ).toMatchObject(told);
    }
    // Connectors also keep a run's directory snapshots and bulk plans, and may list the bucket
    // (a plan not written yet is then NoSuchKey, not AccessDenied)
    expect(s3Grants(template, stack, connector)).toEqual([
      [
        ['s3:GetObject', 's3:PutObject'],
        [
          objectsOf(stack, stack.evidenceBucket, 'bulk/*'),
          objectsOf(stack, stack.evidenceBucket, 'directory/*'),
          evidence,
        ],
      ],
      [['s3:ListBucket'], [{ 'Fn::GetAtt': [bucket, 'Arn'] }]],
    ]);
    expect(s3Grants(template, stack, stack.recordFunction)).toEqual([[['s3:PutObject'], [evidence]]]);
    expect(s3Grants(template, stack, stack.audit.tally)).toEqual([[['s3:PutObject'], [evidence]]]);
    expect(s3Grants(template, stack, stack.restorePlanFunction)).toEqual([[['s3:GetObject'], [evidence]]]);
    for (const fn of [
      stack.normalizeFunction,
      stack.summarizeFunction,
      stack.claimFunction,
      stack.audit.page,
    ]) {
      expect(s3Grants(template, stack, fn), fn.node.id).toEqual([]);
    }
    const onBucket = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy).includes(bucket),
    );
    expect(JSON.stringify(onBucket)).not.toContain('s3:DeleteObject');
    // Work objects hold personal data and serve one run: gone after 7 days, with the versions a
    // rewrite replaced; no rule touches evidence/
    const rule = (prefix: string) => ({
      Id: `expire-${prefix}`,
      Prefix: `${prefix}/`,
      Status: 'Enabled',
      ExpirationInDays: 7,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
    expect(propertiesOf(template, 'AWS::S3::Bucket', bucket).LifecycleConfiguration).toEqual({
      Rules: [rule('directory'), rule('bulk')],
    });
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
      JSON.stringify(s.Resource).includes(logicalId(stack, stack.pacingTable)),
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

  it('lets the bulk and audit workflows invoke every connector directly, besides their own functions (bulk: task-notify and the brake too), and nothing else', () => {
    // Prepare
    const connectors = [...stack.connectorFunctions.values()].map((f) => ({
      'Fn::GetAtt': [logicalId(stack, f.function), 'Arn'],
    }));
    const invoked = (machine: { role: unknown }) =>
      roleStatements(template, logicalId(stack, machine.role as never))
        .filter((s) => actions(s).includes('lambda:InvokeFunction'))
        .flatMap((s) => asList(s.Resource));
    const arnOf = (fn: { function: unknown }) => ({
      'Fn::GetAtt': [logicalId(stack, fn.function as never), 'Arn'],
    });

    // Act
    const bulk = invoked(stack.bulk.stateMachine);
    const audit = invoked(stack.audit.stateMachine);

    // Assess: the list check and the totals, the audit page and tally, and the connectors
    expect(connectors.length).toBeGreaterThan(0);
    expect(bulk).toEqual(
      expect.arrayContaining([
        arnOf(stack.bulk.checkList),
        arnOf(stack.tasks.notify),
        arnOf(stack.brakeFunction),
        ...connectors,
      ]),
    );
    expect(bulk).toHaveLength(connectors.length + 4);
    expect(audit).toEqual(
      expect.arrayContaining([arnOf(stack.audit.page), arnOf(stack.audit.tally), ...connectors]),
    );
    expect(audit).toHaveLength(connectors.length + 2);
  });

  it('lets the audit start remediations and its own next execution, and nothing else', () => {
    // Prepare
    const role = logicalId(stack, stack.audit.stateMachine.role as never);
    // Act
    const starts = roleStatements(template, role).filter((s) => actions(s).includes('states:StartExecution'));
    // Assess: OffboardUser (remediation) and the audit itself by its name (going on in a new
    // execution before its history grows long), no wildcard
    const resources = JSON.stringify(starts.map((s) => s.Resource));
    expect(resources).toContain(logicalId(stack, stack.stateMachine));
    expect(resources).toContain(':stateMachine:Offboard-OffboardAudit');
    expect(resources).not.toContain('*');
  });

  it('lets the bulk workflow start offboard-user executions only, and only its list check read the bucket', () => {
    // Prepare
    const role = logicalId(stack, stack.bulk.stateMachine.role as never);
    // Act
    const statements = roleStatements(template, role);
    // Assess: it starts offboard-user executions, never its own (no DISTRIBUTED Map any more),
    // and touches no bucket: the list check reads the upload, the connectors the evidence
    const starts = statements.filter((s) => actions(s).includes('states:StartExecution'));
    expect(JSON.stringify(starts)).toContain(logicalId(stack, stack.stateMachine));
    expect(JSON.stringify(starts)).not.toContain('OffboardBulk');
    expect(statements.filter((s) => actions(s).some((a) => a.startsWith('s3:')))).toEqual([]);
    // The list check reads the uploaded list and keeps the checked one as evidence (peopleRef),
    // and a retry run's link to the run it retries as work (bulk/), for its connectors' steps
    const checkGrants = s3Grants(template, stack, stack.bulk.checkList);
    expect(checkGrants).toHaveLength(2);
    expect(checkGrants).toContainEqual([['s3:GetObject'], [objectsOf(stack, stack.bulk.bucket, '*')]]);
    expect(checkGrants).toContainEqual([
      ['s3:PutObject'],
      [
        objectsOf(stack, stack.evidenceBucket, 'bulk/*'),
        objectsOf(stack, stack.evidenceBucket, 'evidence/*'),
      ],
    ]);
    expect(
      (
        functionResource(template, stack, stack.bulk.checkList).Properties as {
          Environment: { Variables: Json };
        }
      ).Environment.Variables,
    ).toMatchObject({ OFFBOARD_EVIDENCE_BUCKET: { Ref: logicalId(stack, stack.evidenceBucket) } });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: Match.anyValue(),
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
    });
  });

  it('creates the secret without secretId, named after the stack and retained, and only references the one with secretId', () => {
    // Assess: the connection's secret and the task-link key
    template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    template.hasResource('AWS::SecretsManager::Secret', {
      Properties: { Name: 'Offboard/insightly-prod', SecretString: '{}' },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect(JSON.stringify(template.findResources('AWS::SecretsManager::Secret'))).not.toContain(
      EU_SECRET_NAME,
    );
    template.hasOutput('SecretNameInsightlyProd', {
      Value: 'Offboard/insightly-prod',
      Description: Match.stringLikeRegexp(
        'put-secret-value --secret-id Offboard/insightly-prod --secret-string file://secret.json',
      ),
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
      ...HR,
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
    // no connection secret: the one secret is the task-link key
    expect(
      Object.values(template.findResources('AWS::SecretsManager::Secret')).map(
        (secret) => (secret.Properties as Json).Name,
      ),
    ).toEqual(['Offboard/task-link-key']);
    // normalize, summarize, record, claim, restore plan, one connector; normalize-bulk,
    // summarize-bulk; audit page, audit tally; task notify, page and remind; brake
    template.resourceCountIs('AWS::Lambda::Function', 14);
    expect(Object.keys(template.findOutputs('*'))).toEqual([
      'TaskTopicArn',
      'TaskPageUrl',
      'BulkStateMachineArn',
      'BulkBucketName',
      'AuditStateMachineArn',
      'HrDeadLetterQueueUrl',
      'LedgerTableName',
      'EvidenceBucketName',
      'StateMachineArn',
    ]);
  });

  it('grants a secretId under Offboard/ by its own name, since the stack did not create it', () => {
    // Prepare: one secret the stack creates, and the operator's own, named like one
    const config: ConfigFile = {
      connections: [
        { name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' },
        {
          name: 'crm-old',
          type: 'insightly',
          baseUrl: 'https://api.eu1.insightly.com/v3.1',
          secretId: 'Offboard/legacy-crm',
        },
      ],
      ...HR,
    };
    const stack = new OffboardStack(newApp(), 'Offboard', { config });

    // Act
    const template = Template.fromStack(stack);
    const connector = required(stack.connectorFunctions.get('insightly'), 'insightly connector');
    const statements = secretStatements(template, logicalId(stack, connector.role));

    // Assess: the shared statement covers only secrets this stack created; the operator's
    // secret is granted exactly, suffix wildcard and all
    // crm's secret, and the task-link key
    template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    expect(statements).toHaveLength(2);
    expect(statements).toContainEqual(createdSecretsStatement('insightly'));
    const exact = statements.filter((s) => s.Condition === undefined).map((s) => JSON.stringify(s.Resource));
    expect(exact).toHaveLength(1);
    expect(exact[0]).toContain(':secret:Offboard/legacy-crm-??????');
  });

  it('refuses a connection without baseUrl, naming it', () => {
    // Prepare
    const config: ConfigFile = { connections: [{ name: 'no-url', type: 'insightly' }], ...HR };

    // Act
    const synth = () => new OffboardStack(newApp(), 'Offboard', { config });

    // Assess
    expect(synth).toThrow(/connection 'no-url': baseUrl is required to deploy/);
  });

  it('refuses to deploy without knowing where HR events come from, saying what to add', () => {
    // Prepare: a config that runs locally but names no HR event source
    const config: ConfigFile = {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' }],
    };

    // Act
    const synth = () => new OffboardStack(newApp(), 'Offboard', { config });

    // Assess
    expect(synth).toThrow(ConfigFileError);
    expect(synth).toThrow(/hrEvents is required to deploy: add "hrEvents": \{"sources": \[/);
    expect(synth).toThrow(/or "hrEvents": false to deploy without the HR rule/);
  });

  it('refuses an hrEvents without sources in the config file, naming the key', () => {
    // Prepare
    const config = {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' }],
      hrEvents: { busName: 'hr' },
    } as unknown as ConfigFile;

    // Act
    const synth = () => new OffboardStack(newApp(), 'Offboard', { config });

    // Assess
    expect(synth).toThrow(/config: hrEvents\.sources: required: the "source" your HR system sets/);
  });

  it('deploys no HR rule with "hrEvents": false, and stays cdk-nag clean', () => {
    // Prepare
    const config: ConfigFile = {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' }],
      hrEvents: false,
    };
    const app = newApp({ nag: true });
    const stack = new OffboardStack(app, 'Offboard', { config });

    // Act
    const assembly = app.synth();
    const template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);

    // Assess
    expect(violations(readReport(assembly.directory))).toEqual([]);
    expect(stack.hrEvents).toBeUndefined();
    template.resourceCountIs('AWS::Events::Rule', 0);
    template.resourceCountIs('AWS::SQS::Queue', 0);
    // failed or partial offboarding, failed execution of each state machine, audit drift
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
  });

  it('listens on the HR bus when one is named, and watches the rule there', () => {
    // Prepare
    const config: ConfigFile = {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' }],
      hrEvents: { busName: 'hr', sources: ['com.example.hr'] },
    };
    const stack = new OffboardStack(newApp(), 'Offboard', { config });

    // Act
    const template = Template.fromStack(stack);
    const rule = logicalId(stack, required(stack.hrEvents, 'HR rule').rule);

    // Assess: on a custom bus the rule's Ref is "<bus>|<rule>"; the metric wants both apart
    template.hasResourceProperties('AWS::Events::Rule', { EventBusName: 'hr' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'FailedInvocations',
      Dimensions: [
        { Name: 'EventBusName', Value: 'hr' },
        { Name: 'RuleName', Value: { 'Fn::Select': [1, { 'Fn::Split': ['|', { Ref: rule }] }] } },
      ],
    });
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
      ...HR,
    };
    const stack = new OffboardStack(newApp({ nag: true }), 'Offboard', { config });

    // Act
    const template = Template.fromStack(stack);

    // Assess
    Annotations.fromStack(stack).hasWarning(
      '/Offboard/Default',
      Match.stringLikeRegexp("connection 'crm'.*not deployed.*put the value into Offboard/crm"),
    );
    expect(JSON.stringify(template.toJSON())).not.toContain('do-not-deploy-me');
  });

  it('warns when no one receives the tasks (no taskEmails), and not when someone does', () => {
    // Prepare: the same connection, without and with people for the task topic
    const connections = [
      { name: 'crm', type: 'insightly' as const, baseUrl: 'https://api.na1.insightly.com' },
    ];
    const without = new OffboardStack(newApp(), 'Offboard', { config: { connections, ...HR } });
    const withPeople = new OffboardStack(newApp(), 'Offboard', {
      config: { connections, ...HR, taskEmails: ['it-desk@example.com'] },
    });
    // Act
    const warned = (stack: OffboardStack) =>
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('no "taskEmails"'));
    // Assess
    expect(warned(without).map((w) => w.entry.data)).toEqual([
      expect.stringContaining("the safety brake's pauses are emailed to nobody"),
    ]);
    expect(warned(withPeople)).toEqual([]);
  });

  it('warns, naming the connection, when TLS verification is off', () => {
    // Prepare: an on-prem console with a self-signed certificate, verification off on purpose
    const config: ConfigFile = {
      connections: [
        {
          name: 'console-lab',
          type: 'rapid7-insightvm',
          baseUrl: 'https://vm-console.lab.example:3780',
          tls: { rejectUnauthorized: false },
        },
        {
          name: 'console-prod',
          type: 'rapid7-insightvm',
          baseUrl: 'https://vm-console.corp.example:3780',
          tls: { caCert: CA_CERT },
        },
      ],
      ...HR,
    };

    // Act
    const stack = new OffboardStack(newApp(), 'Offboard', { config });

    // Assess: one warning, for the connection that turned verification off
    const warnings = Annotations.fromStack(stack).findWarning(
      '/Offboard/Default',
      Match.stringLikeRegexp('tls-verification-off'),
    );
    expect(warnings.map((w) => w.entry.data)).toEqual([
      expect.stringMatching(/^connection 'console-lab': tls\.rejectUnauthorized is false/),
    ]);
  });

  it('deploys 100 connections with every function environment far under the 4 KB Lambda allows', () => {
    // Prepare: 100 connections, every type, a CA certificate on each console
    const config: ConfigFile = {
      connections: Array.from({ length: 100 }, (_, n) => {
        const type = CONNECTION_TYPES[n % CONNECTION_TYPES.length] ?? 'scim';
        return {
          name: `app-${n}`,
          type,
          baseUrl: `https://app-${n}.example.com`,
          ...(type === 'rapid7-insightvm' ? { tls: { caCert: CA_CERT.repeat(20) } } : {}),
        };
      }),
      ...HR,
    };
    // Lambda counts keys and values; a name the template leaves to CloudFormation (a Ref) is
    // counted at 255 characters, the longest a table name can be.
    const largestEnvironment = (deployed: ConfigFile) => {
      const app = newApp();
      const stack = new OffboardStack(app, 'Offboard', { config: deployed });
      const template = Template.fromJSON(app.synth().getStackArtifact(stack.artifactId).template);
      const sizes = Object.values(template.findResources('AWS::Lambda::Function')).map((fn) =>
        Object.entries(((fn.Properties as Json).Environment as { Variables: Json }).Variables).reduce(
          (size, [key, value]) => size + key.length + (typeof value === 'string' ? value.length : 255),
          0,
        ),
      );
      return { functions: sizes.length, largest: Math.max(...sizes) };
    };

    // Act
    const hundred = largestEnvironment(config);
    const one = largestEnvironment({ ...config, connections: config.connections.slice(0, 1) });

    // Assess: the size does not grow with the connections (they are in the bundles); the
    // largest (task-notify's: table, topic, key and page URL) is under half of the 4 KB
    expect(hundred.functions).toBe(CONNECTION_TYPES.length + 13);
    expect(hundred.largest).toBe(one.largest);
    expect(hundred.largest).toBeLessThan(2048);
  });

  it('refuses a connection list too large to compile into a function, naming the function', () => {
    // Prepare: consoles whose CA bundles together pass the limit
    const bundle = (kib: number) =>
      `-----BEGIN CERTIFICATE-----\n${'A'.repeat(kib * 1024)}\n-----END CERTIFICATE-----\n`;
    const consoles = (count: number, kib: number): ConfigFile => ({
      connections: Array.from({ length: count }, (_, n) => ({
        name: `console-${n}`,
        type: 'rapid7-insightvm' as const,
        baseUrl: `https://console-${n}.corp.example:3780`,
        tls: { caCert: bundle(kib) },
      })),
      ...HR,
    });
    const limitKiB = MAX_BUNDLED_CONNECTIONS_BYTES / 1024;

    // Act
    const under = () => new OffboardStack(newApp(), 'Offboard', { config: consoles(2, limitKiB / 2 - 2) });
    const over = () => new OffboardStack(newApp(), 'Offboard', { config: consoles(2, limitKiB / 2 + 1) });

    // Assess: just under the limit deploys; just over fails at synth, before esbuild would
    expect(under).not.toThrow();
    expect(over).toThrow(ConfigFileError);
    expect(over).toThrow(
      /^Offboard\/Default\/Rapid7InsightvmFunction: its 2 connections take \d+ KiB, over the 96 KiB that can be compiled into one function/,
    );
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

describe('OffboardStack with every connection type and every option', () => {
  it('bundles one connector a type, each with its own connections and secrets only, cdk-nag clean', () => {
    // Prepare: one connection of each type, all secrets created by the stack, alerts, a custom HR bus
    const app = newApp({ bundle: true, nag: true });
    const stack = new OffboardStack(app, 'Offboard', { config: WIDE_CONFIG });

    // Act
    const assembly = app.synth();
    const template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
    const compiled = (fn: { function: unknown }) =>
      required(bundledConnections(assembly, functionResource(template, stack, fn)), 'compiled connections');

    // Assess
    expect(violations(readReport(assembly.directory))).toEqual([]);
    template.resourceCountIs('AWS::Lambda::Function', CONNECTION_TYPES.length + 13);
    for (const type of CONNECTION_TYPES) {
      const connector = required(stack.connectorFunctions.get(type), `${type} connector`);
      // Only the secrets this stack created for its own type: the condition names the type,
      // and the type's secret carries it
      expect(secretStatements(template, logicalId(stack, connector.role)), type).toEqual([
        createdSecretsStatement(type),
      ]);
      const own = logicalId(stack, required(stack.secrets.get(`${type}-prod`), `${type} secret`) as never);
      expect(propertiesOf(template, 'AWS::SecretsManager::Secret', own).Tags, type).toEqual([
        { Key: 'offboard:connection-type', Value: type },
      ]);
      // Its bundle holds its own base URL and no other type's (three types share scim.ts)
      const code = readFileSync(
        join(assetDirectory(assembly, functionResource(template, stack, connector)), 'index.mjs'),
        'utf8',
      );
      for (const other of CONNECTION_TYPES) {
        expect(code.includes(`https://${other}.example.com`), `${other} URL in the ${type} bundle`).toBe(
          other === type,
        );
      }
      expect(
        compiled(connector).map((c) => [c.name, c.baseUrl, c.secretId]),
        type,
      ).toEqual([[`${type}-prod`, `https://${type}.example.com`, `Offboard/${type}-prod`]]);
    }
    // The console's CA travels with its connection, into its connector only
    expect(compiled(required(stack.connectorFunctions.get('rapid7-insightvm'), 'connector'))[0]?.tls).toEqual(
      {
        caCert: CA_CERT,
      },
    );
    for (const fn of [stack.normalizeFunction, stack.bulk.checkList, stack.audit.page]) {
      const routes = compiled(fn);
      expect(routes.map((c) => c.name)).toEqual(CONNECTION_TYPES.map((type) => `${type}-prod`));
      for (const route of routes) {
        expect(Object.keys(route).sort(), fn.node.id).toEqual(
          ['endpoint', 'functionName', 'name', 'type', ...(route.rateLimit ? ['rateLimit'] : [])].sort(),
        );
      }
    }
  }, 120_000);
});

describe('OffboardStack with alert emails', () => {
  it('mails every alarm, HR delivery ones included, through an encrypted topic CloudWatch may use', () => {
    const config: ConfigFile = {
      connections: [{ name: 'crm', type: 'insightly', baseUrl: 'https://api.na1.insightly.com/v3.1' }],
      alertEmails: ['it-ops@example.com'],
      ...HR,
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
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.map((alarm) => (alarm.Properties as Json).MetricName ?? 'expression').sort()).toEqual([
      'ApproximateNumberOfMessagesVisible',
      'AuditDrift',
      'FailedInvocations',
      'OffboardingsNotSucceeded',
      'expression',
      'expression',
      'expression',
    ]);
    for (const alarm of alarms) {
      expect((alarm.Properties as Json).AlarmActions).toHaveLength(1);
    }
  });
});

/**
 * Checks cfn-lint leaves unreported, each with its reason. W3005: CDK makes every Lambda
 * function and state machine DependsOn its role as well as reading the role's ARN (it adds the
 * DependsOn so the role's policy exists before the resource does); redundant, harmless, and
 * made by aws-cdk-lib, not by us.
 */
const CFN_LINT_IGNORED = ['W3005'];

describe('the template, checked by cfn-lint', () => {
  it('has no error and no warning other than the ones listed with their reason', () => {
    // Prepare: cfn-lint comes from pip, not npm; CI has it, and so must a developer
    const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
    if (version.error || version.status !== 0) {
      throw new Error(
        `cfn-lint is not on PATH (${version.error?.message ?? version.stderr}): install it with 'pip install cfn-lint'; CI runs this test with it`,
      );
    }
    const dir = mkdtempSync(join(tmpdir(), 'offboard-cfn-lint-'));
    const configs: [string, ConfigFile][] = [
      ['connections', loadConfigFile(join(REPO_ROOT, 'config/connections.json'))],
      ['wide', WIDE_CONFIG],
    ];
    const files = configs.map(([name, config]) => {
      const stack = new OffboardStack(newApp(), 'Offboard', { config });
      const file = join(dir, `${name}.template.json`);
      writeFileSync(file, JSON.stringify(Template.fromStack(stack).toJSON(), null, 1));
      return file;
    });

    // Act
    const lint = spawnSync(
      'cfn-lint',
      ['--format', 'json', '--ignore-checks', ...CFN_LINT_IGNORED, '--', ...files],
      {
        encoding: 'utf8',
      },
    );

    // Assess: every finding, readable, if there is one
    const findings = (
      JSON.parse(lint.stdout || '[]') as {
        Level: string;
        Message: string;
        Filename: string;
        Rule: { Id: string };
        Location: { Path: unknown[] };
      }[]
    ).map((f) => `${f.Level} ${f.Rule.Id} ${f.Filename}: ${f.Location.Path.join('/')}: ${f.Message}`);
    expect(findings).toEqual([]);
    expect(lint.status, lint.stderr).toBe(0);
  }, 120_000);
});
