import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
// The package by its name, as another CDK app imports it (package.json "exports").
import { type ConfigFile, ConfigFileError, loadConfigFile, OffboardStack, OffboardWorkflow } from 'offboard';
import { beforeAll, describe, expect, it } from 'vitest';
// The outputs the deployed CLI (`offboard ... --stack <name>`) reads, by these exact keys.
import { OUTPUT_KEYS } from '../../cli/deployed';
import { stackNameProblem } from '../../lib/offboard-stack';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The feature flags `cdk synth` uses, so the tests see the same template the CLI makes. */
const CDK_CONTEXT = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;
const HR: Pick<ConfigFile, 'hrEvents'> = { hrEvents: { sources: ['com.example.hr'] } };
const CRM = { name: 'crm', type: 'insightly' as const, baseUrl: 'https://api.na1.insightly.com/v3.1' };

type Json = Record<string, unknown>;
type Statement = { Action: string | string[]; Resource: unknown };

/** An app with the CLI's feature flags and cdk-nag; functions are not bundled (the template is what counts here). */
function newApp(outdir?: string): App {
  const app = new App({
    context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] },
    ...(outdir ? { outdir } : {}),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

/** Every cdk-nag violation of the synthesized app, as `[rule, paths]`. */
function violations(directory: string): [string, string[]][] {
  const report = JSON.parse(readFileSync(join(directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: {
      violations?: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
    }[];
  };
  // Our own advice to whoever deploys (`offboard:` warnings) is tested where it is given.
  return report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? [])
      .filter((v) => !v.ruleName.startsWith('Annotation::offboard:'))
      .map((v): [string, string[]] => [v.ruleName, v.violatingConstructs.map((c) => c.constructPath)]),
  );
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** A function's environment variables. */
function environmentOf(template: Template, logicalId: string): Json {
  const fn = template.findResources('AWS::Lambda::Function')[logicalId];
  if (fn === undefined) throw new Error(`test setup: no function ${logicalId}`);
  return ((fn.Properties as Json).Environment as { Variables: Json }).Variables;
}

function actions(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** Every statement of every inline policy, with the roles it is attached to. */
function statements(template: Template): (Statement & { roles: string[] })[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => {
    const properties = policy.Properties as {
      Roles: { Ref: string }[];
      PolicyDocument: { Statement: Statement[] };
    };
    return properties.PolicyDocument.Statement.map((s) => ({
      ...s,
      roles: properties.Roles.map((r) => r.Ref),
    }));
  });
}

/** The names a template gives its resources itself (the ones two stacks in an account could share). */
function physicalNames(template: Template): string[] {
  const nameProperties = [
    'FunctionName',
    'StateMachineName',
    'Name',
    'TableName',
    'BucketName',
    'TopicName',
    'QueueName',
    'LogGroupName',
    'RoleName',
    'PolicyName',
    'AliasName',
  ];
  return Object.values(template.toJSON().Resources as Record<string, { Type: string; Properties?: Json }>)
    .filter((r) => r.Type !== 'AWS::IAM::Policy') // a policy's name is only unique within its role
    .flatMap((r) => nameProperties.map((p) => r.Properties?.[p]))
    .filter((name): name is string => typeof name === 'string');
}

describe('OffboardWorkflow in another CDK app, imported by the package name', () => {
  let stack: Stack;
  let workflow: OffboardWorkflow;
  let template: Template;
  let outdir: string;

  beforeAll(() => {
    // Prepare: a team's own stack, with a topic of its own beside the workflow
    const app = newApp();
    stack = new Stack(app, 'HrTools');
    const announcements = new Topic(stack, 'Announcements', { enforceSSL: true });
    Validations.of(announcements).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason: 'Public announcements only.',
    });
    workflow = new OffboardWorkflow(stack, 'Offboarding', {
      config: loadConfigFile(join(REPO_ROOT, 'config/connections.json')),
    });

    // Act
    const assembly = app.synth();
    outdir = assembly.directory;
    template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
  });

  it('synthesizes cdk-nag clean, with every output the offboard CLI reads under its exact key', () => {
    // Assess
    expect(violations(outdir)).toEqual([]);
    expect(Object.keys(template.findOutputs('*'))).toEqual(expect.arrayContaining([...OUTPUT_KEYS]));
    template.hasOutput('StateMachineArn', { Value: { Ref: id(stack, workflow.stateMachine) } });
    template.hasOutput('TaskPageUrl', {
      Value: { 'Fn::GetAtt': [id(stack, workflow.tasks.pageUrl), 'FunctionUrl'] },
    });
  });

  it('names what it creates after the stack it is in: secrets, connectors, bulk and audit machines', () => {
    // Assess
    const secrets = Object.values(template.findResources('AWS::SecretsManager::Secret')).map(
      (s) => (s.Properties as Json).Name,
    );
    expect(secrets.sort()).toEqual(['HrTools/insightly-prod', 'HrTools/task-link-key']);
    expect(physicalNames(template)).toEqual(
      expect.arrayContaining(['HrTools-insightly', 'HrTools-OffboardBulk', 'HrTools-OffboardAudit']),
    );
  });
});

describe('two offboard stacks in one app (one account)', () => {
  it('share no physical name: secrets, functions and state machines are named after each stack', () => {
    // Prepare: the same connections deployed twice, as a second region or a test stack would be
    const config = loadConfigFile(join(REPO_ROOT, 'config/connections.json'));
    const app = newApp();
    const main = new OffboardStack(app, 'Offboard', { config });
    const other = new OffboardStack(app, 'Offboard-test', { config });

    // Act
    const assembly = app.synth();
    const names = [main, other].map((s) =>
      physicalNames(Template.fromJSON(assembly.getStackArtifact(s.artifactId).template)),
    );
    const [first = [], second = []] = names;

    // Assess: nothing in common, and each stack's secrets under its own name
    expect(first.length).toBeGreaterThan(4);
    expect(first.filter((name) => second.includes(name))).toEqual([]);
    expect(first).toEqual(expect.arrayContaining(['Offboard/insightly-prod', 'Offboard/task-link-key']));
    expect(second).toEqual(
      expect.arrayContaining(['Offboard-test/insightly-prod', 'Offboard-test/task-link-key']),
    );
    // Each connector reads only its own stack's secrets: the grant names the stack's prefix
    const grant = (stack: OffboardStack) =>
      JSON.stringify(
        statements(Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template)).filter((s) =>
          actions(s).includes('secretsmanager:GetSecretValue'),
        ),
      );
    expect(grant(main)).toContain(':secret:Offboard/*');
    expect(grant(other)).toContain(':secret:Offboard-test/*');
    expect(grant(other)).not.toContain(':secret:Offboard/*');
  });

  it('keeps connector and state machine names within their limits for a long stack name, and apart', () => {
    // Prepare: two stack names of 100 characters that differ only at the end
    const long = (end: string) => `Offboard-${'x'.repeat(90)}${end}`;
    const config: ConfigFile = { connections: [CRM], hrEvents: false };
    const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });

    const stacks = ['a', 'b'].map((end) => new OffboardStack(app, long(end), { config }));

    // Act
    const [a, b] = stacks.map((s) => Template.fromStack(s)) as [Template, Template];
    const named = (template: Template, type: string, property: string) =>
      Object.values(template.findResources(type)).map((r) => String((r.Properties as Json)[property]));

    // Assess
    for (const [type, property, max] of [
      ['AWS::Lambda::Function', 'FunctionName', 64],
      ['AWS::StepFunctions::StateMachine', 'StateMachineName', 80],
    ] as const) {
      const inA = named(a, type, property).filter((n) => n !== 'undefined');
      const inB = named(b, type, property).filter((n) => n !== 'undefined');
      expect(inA.length).toBeGreaterThan(0);
      for (const name of [...inA, ...inB]) expect(name.length).toBeLessThanOrEqual(max);
      expect(inA.filter((name) => inB.includes(name))).toEqual([]);
    }
  });
});

describe('OffboardStack: alarms, tasks and the brake', () => {
  let stack: OffboardStack;
  let template: Template;

  beforeAll(() => {
    // Prepare: alerts mailed, a brake of the config's own
    const config = {
      connections: [CRM],
      alertEmails: ['it-ops@example.com'],
      brake: { limit: 40, windowMinutes: 30 },
      ...HR,
    } as ConfigFile;
    const app = newApp();
    stack = new OffboardStack(app, 'Offboard', { config });

    // Act
    const assembly = app.synth();
    expect(violations(assembly.directory)).toEqual([]);
    template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
  });

  it('mails an alarm when an execution of any of the three state machines fails or times out', () => {
    // Prepare
    const alertTopic = Object.keys(template.findResources('AWS::SNS::Topic')).find((key) =>
      key.startsWith('AlertTopic'),
    );
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm) => alarm.Properties as Json,
    );
    /** The alarm whose metrics count `metric` of `machine`. */
    const watching = (machine: { node: { defaultChild?: unknown } }, metric: string) =>
      alarms.filter((alarm) =>
        ((alarm.Metrics as Json[] | undefined) ?? []).some((m) => {
          const stat = (m.MetricStat as { Metric: Json } | undefined)?.Metric;
          return (
            stat?.MetricName === metric &&
            JSON.stringify(stat.Dimensions) ===
              JSON.stringify([{ Name: 'StateMachineArn', Value: { Ref: id(stack, machine) } }])
          );
        }),
      );

    // Assess: one alarm a machine, on both metrics, mailed like every other alarm
    for (const machine of [stack.stateMachine, stack.bulk.stateMachine, stack.audit.stateMachine]) {
      const failed = watching(machine, 'ExecutionsFailed');
      expect(failed, machine.node.id).toHaveLength(1);
      expect(watching(machine, 'ExecutionsTimedOut')).toEqual(failed);
      expect(failed[0]).toMatchObject({ Threshold: 1, AlarmActions: [{ Ref: alertTopic }] });
    }
  });

  it('serves the task page on a public function URL, the signed link being its credential, and outputs it', () => {
    // Assess
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [id(stack, stack.tasks.page.function), 'Arn'] },
    });
    template.hasOutput('TaskPageUrl', {
      Value: { 'Fn::GetAtt': [id(stack, stack.tasks.pageUrl), 'FunctionUrl'] },
    });
    const variables = (fn: { function: { node: { defaultChild?: unknown } } }) =>
      environmentOf(template, id(stack, fn.function));
    const key = { Ref: id(stack, stack.tasks.linkKey) };
    const ledger = { Ref: id(stack, stack.ledgerTable) };
    const mailer = {
      OFFBOARD_LEDGER_TABLE: ledger,
      OFFBOARD_TASK_KEY_SECRET_ARN: key,
      OFFBOARD_TASK_TOPIC_ARN: { Ref: id(stack, stack.taskTopic) },
      OFFBOARD_TASK_PAGE_URL: { 'Fn::GetAtt': [id(stack, stack.tasks.pageUrl), 'FunctionUrl'] },
    };
    expect(variables(stack.tasks.notify)).toMatchObject(mailer);
    expect(variables(stack.tasks.remind)).toMatchObject(mailer);
    expect(variables(stack.tasks.page)).toMatchObject({
      OFFBOARD_LEDGER_TABLE: ledger,
      OFFBOARD_TASK_KEY_SECRET_ARN: key,
    });
    expect(variables(stack.tasks.page)).not.toHaveProperty('OFFBOARD_TASK_TOPIC_ARN');
  });

  it('lets the page and task-notify alone resume executions, and only those of the machines that ask a person', () => {
    // Act
    const resume = statements(template).filter((s) =>
      actions(s).some((a) => a.startsWith('states:SendTask')),
    );

    // Assess: by state machine ARN (what Step Functions authorizes a task token's answer on)
    const roles = resume.flatMap((s) => s.roles).sort();
    expect(roles).toEqual([id(stack, stack.tasks.notify.role), id(stack, stack.tasks.page.role)].sort());
    for (const statement of resume) {
      expect(actions(statement).sort()).toEqual(['states:SendTaskFailure', 'states:SendTaskSuccess']);
      expect(asList(statement.Resource)).toEqual(
        expect.arrayContaining([
          { Ref: id(stack, stack.stateMachine) },
          { Ref: id(stack, stack.bulk.stateMachine) },
        ]),
      );
      expect(asList(statement.Resource)).toHaveLength(2);
    }
  });

  it('generates the task-link key in Secrets Manager, retained, readable by the three task functions only', () => {
    // Assess
    const key = template.findResources('AWS::SecretsManager::Secret')[id(stack, stack.tasks.linkKey)];
    expect(key).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { Name: 'Offboard/task-link-key', GenerateSecretString: { PasswordLength: 64 } },
    });
    // Generated by CloudFormation: no value in the template
    expect(key?.Properties).not.toHaveProperty('SecretString');
    const readers = statements(template)
      .filter((s) => JSON.stringify(s.Resource).includes(id(stack, stack.tasks.linkKey)))
      .flatMap((s) => s.roles)
      .sort();
    expect(readers).toEqual(
      [stack.tasks.notify, stack.tasks.page, stack.tasks.remind].map((f) => id(stack, f.role)).sort(),
    );
  });

  it('reminds hourly, through the reminder function', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: { Arn: { 'Fn::GetAtt': [id(stack, stack.tasks.remind.function), 'Arn'] } },
    });
  });

  it("tells the brake the config's limit and window, and the defaults (25 in 60 minutes) when it has none", () => {
    // Prepare
    const brakeOf = (s: OffboardStack, t: Template) => environmentOf(t, id(s, s.brakeFunction.function));
    const plain = new OffboardStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Plain', {
      config: { connections: [CRM], ...HR },
    });

    // Assess
    expect(brakeOf(stack, template)).toMatchObject({
      OFFBOARD_LEDGER_TABLE: { Ref: id(stack, stack.ledgerTable) },
      OFFBOARD_BRAKE_LIMIT: '40',
      OFFBOARD_BRAKE_WINDOW_MINUTES: '30',
    });
    expect(brakeOf(plain, Template.fromStack(plain))).toMatchObject({
      OFFBOARD_BRAKE_LIMIT: '25',
      OFFBOARD_BRAKE_WINDOW_MINUTES: '60',
    });
  });
});

describe('OffboardWorkflow refuses what would clash', () => {
  it('refuses a connection whose created secret would take the task-link key name', () => {
    // Prepare
    const config: ConfigFile = { connections: [{ ...CRM, name: 'task-link-key' }], ...HR };

    // Act
    const synth = () => new OffboardStack(new App(), 'Offboard', { config });

    // Assess
    expect(synth).toThrow(ConfigFileError);
    expect(synth).toThrow(
      /connection 'task-link-key': its secret would be Offboard\/task-link-key, the name of the key that signs the task links/,
    );
  });

  it('refuses a second workflow in one stack, naming the stack', () => {
    // Prepare
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Shared');
    const config: ConfigFile = { connections: [CRM], ...HR };
    new OffboardWorkflow(stack, 'First', { config });

    // Act
    const second = () => new OffboardWorkflow(stack, 'Second', { config });

    // Assess
    expect(second).toThrow(/Shared\/Second: stack 'Shared' already holds an OffboardWorkflow/);
  });
});

describe('the stack name', () => {
  it.each([
    ['Offboard', undefined],
    ['Offboard-eu-2', undefined],
    ['', 'is empty'],
    ['2nd', 'must start with a letter (CloudFormation stack names do)'],
    ['offboard_eu', 'may hold only letters, digits and hyphens (CloudFormation stack names do)'],
    ['Offboard/eu', 'may hold only letters, digits and hyphens (CloudFormation stack names do)'],
    [`O${'x'.repeat(128)}`, 'is 129 characters long, over the 128 CloudFormation allows'],
  ])('%j: %s', (name, problem) => {
    expect(stackNameProblem(name)).toBe(problem);
  });

  it('is refused by the CDK app with a clear message and exit code 2, before anything is synthesized', () => {
    // Act: `npx cdk synth -c stackName=offboard_eu` runs the app with this context
    const app = spawnSync(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['bin/app.ts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ config: 'config/connections.json', stackName: 'offboard_eu' }),
      },
    });

    // Assess
    expect(app.stderr.trim()).toBe(
      "context stackName 'offboard_eu': may hold only letters, digits and hyphens (CloudFormation stack names do); e.g. -c stackName=Offboard-eu (letters, digits and hyphens, starting with a letter)",
    );
    expect(app.status).toBe(2);
  });
});
