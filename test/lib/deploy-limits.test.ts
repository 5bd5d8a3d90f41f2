import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionType } from '../../lambdas/shared/connections';
import type { ConfigFile, ConnectionConfig } from '../../lib/config';
import {
  type CfnTemplate,
  DEPLOY_LIMITS,
  type DeployFigures,
  deployLimitProblems,
  measureTemplate,
  renderDeployed,
} from '../../lib/deploy-limits';
import {
  OFFBOARD_AUDIT_ASL,
  OFFBOARD_BULK_ASL,
  OFFBOARD_USER_ASL,
  OffboardStack,
} from '../../lib/offboard-stack';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The feature flags `cdk synth` uses, so these templates are the ones the CLI makes. */
const CDK_CONTEXT = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;
const HR: Pick<ConfigFile, 'hrEvents'> = { hrEvents: { busName: 'hr', sources: ['com.example.hr'] } };
/** A console's CA bundle: an issuing CA and its root, about 2 KB each, as on-prem consoles have. */
const CA_BUNDLE = `-----BEGIN CERTIFICATE-----\n${'MIIF'.repeat(500)}\n-----END CERTIFICATE-----\n`.repeat(2);

type Json = Record<string, unknown>;

/**
 * An app as bin/app.ts makes it (the CLI's feature flags, cdk-nag), without bundling the
 * functions: what is measured here is the template, and bundling 16 functions takes a minute.
 * The definitions of the state machines are staged all the same.
 */
function newApp(outdir?: string): App {
  const app = new App({
    context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] },
    ...(outdir ? { outdir } : {}),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

/**
 * A hundred connections as a company might have them: SCIM apps the most, a few of each
 * vendor surface; a quarter with a secret of the operator's own (by name, by partial ARN, by
 * complete ARN), the rest created by the stack; on-prem consoles with their CA bundle.
 */
function hundredConnections(): ConfigFile {
  const mix: [ConnectionType, number][] = [
    ['scim', 40],
    ['insightly', 14],
    ['insightly-scim', 8],
    ['rapid7-insightvm', 10],
    ['rapid7-platform', 6],
    ['gainsight', 12],
    ['gainsight-scim', 10],
  ];
  const connections = mix.flatMap(([type, count]) =>
    Array.from({ length: count }, (_, n): ConnectionConfig => {
      const name = `${type}-${['prod', 'emea', 'apac', 'lab'][n % 4]}-${n}`;
      const own = [
        `prod/offboard/${name}`,
        `arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/offboard/${name}`,
        `arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/offboard/${name}-AbCdEf`,
      ];
      return {
        name,
        type,
        baseUrl:
          type === 'rapid7-insightvm'
            ? `https://console-${n}.corp.example:3780`
            : `https://${name}.example.com`,
        ...(n % 4 === 1 ? { secretId: own[n % 3] } : {}),
        ...(type === 'rapid7-insightvm' && n % 3 === 0 ? { tls: { caCert: CA_BUNDLE } } : {}),
      };
    }),
  );
  return {
    connections,
    taskEmails: ['it-tasks@example.com'],
    alertEmails: ['it-ops@example.com'],
    audit: { schedule: 'cron(0 6 * * ? *)', remediate: true },
    resultBusName: 'results',
    ...HR,
  };
}

/** The template of the stack, and the text of each state machine's definition (a file asset). */
function synthesized(
  config: ConfigFile,
  outdir?: string,
): {
  stack: OffboardStack;
  template: CfnTemplate;
  definitionOf: (id: string) => string;
  assembly: CloudAssembly;
} {
  const app = newApp(outdir);
  const stack = new OffboardStack(app, 'Offboard', { config });
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as CfnTemplate;
  const definitionOf = (id: string) => {
    const location = template.Resources?.[id]?.Properties?.DefinitionS3Location as { Key: string };
    return readFileSync(join(assembly.directory, `asset.${location.Key}`), 'utf8');
  };
  return { stack, template, definitionOf, assembly };
}

/** Each resource's properties, by type. */
function resourcesOf(template: CfnTemplate, type: string): [string, Json][] {
  return Object.entries(template.Resources ?? {})
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

describe('a stack of 100 connections', () => {
  const config = hundredConnections();
  let synth: ReturnType<typeof synthesized>;

  beforeAll(() => {
    // Act: synth succeeds (cdk-nag and the stack's own limit checks run here)
    synth = synthesized(config);
  }, 120_000);

  it('deploys within every limit CloudFormation, IAM, Lambda and Step Functions set, cdk-nag clean', () => {
    // Prepare
    expect(config.connections).toHaveLength(100);
    const { stack, template, definitionOf } = synth;

    // Act
    const figures = measureTemplate(template, 'Offboard', definitionOf);
    const deployed = (value: unknown) => renderDeployed(value, template, 'Offboard');

    // Assess: every IAM policy, as IAM counts it (its JSON without whitespace, every reference at
    // its longest), and a role's inline policies together
    const inline = resourcesOf(template, 'AWS::IAM::Policy').map(([id, p]) => ({
      id,
      chars: JSON.stringify(deployed(p.PolicyDocument)).length,
      roles: (p.Roles as { Ref: string }[]).map((r) => r.Ref),
    }));
    expect(inline.length).toBeGreaterThan(20);
    for (const [role] of resourcesOf(template, 'AWS::IAM::Role')) {
      const chars = inline.filter((p) => p.roles.includes(role)).reduce((sum, p) => sum + p.chars, 0);
      expect(chars, role).toBeLessThan(DEPLOY_LIMITS.roleInlinePolicyChars);
    }
    for (const [id, p] of resourcesOf(template, 'AWS::IAM::ManagedPolicy')) {
      expect(JSON.stringify(deployed(p.PolicyDocument)).length, id).toBeLessThan(
        DEPLOY_LIMITS.managedPolicyChars,
      );
    }
    // ... each function's environment (keys, values and the JSON around them)
    const functions = resourcesOf(template, 'AWS::Lambda::Function');
    // seven connector types, and the workflow's own 13 (task notify, page and remind, brake among them)
    expect(functions).toHaveLength(20);
    for (const [id, fn] of functions) {
      const variables = deployed((fn.Environment as { Variables: Json }).Variables);
      expect(Buffer.byteLength(JSON.stringify(variables)), id).toBeLessThan(
        DEPLOY_LIMITS.lambdaEnvironmentBytes,
      );
    }
    // ... each state machine's definition once substituted, the template, its resources and outputs
    expect(figures.stateMachineDefinitions).toHaveLength(3);
    for (const [machine, file] of [
      [stack.stateMachine, OFFBOARD_USER_ASL],
      [stack.bulk.stateMachine, OFFBOARD_BULK_ASL],
      [stack.audit.stateMachine, OFFBOARD_AUDIT_ASL],
    ] as const) {
      const id = stack.getLogicalId(machine.node.defaultChild as never);
      const bytes = figures.stateMachineDefinitions.find((d) => d.logicalId === id)?.bytes;
      // At least the file (each substitution is longer than its placeholder), under the limit
      expect(bytes, id).toBeGreaterThanOrEqual(readFileSync(file).length);
      expect(bytes, id).toBeLessThan(DEPLOY_LIMITS.stateMachineDefinitionBytes);
    }
    expect(figures.templateBytes).toBeGreaterThan(JSON.stringify(template).length);
    expect(figures.templateBytes).toBeLessThan(DEPLOY_LIMITS.templateBytes);
    expect(figures.resources).toBe(Object.keys(template.Resources ?? {}).length);
    expect(figures.resources).toBeLessThan(DEPLOY_LIMITS.resources);
    expect(figures.outputs).toBeLessThan(DEPLOY_LIMITS.outputs);
    expect(deployLimitProblems(figures)).toEqual([]);
  });

  it('grants each connector its created secrets in one statement, and each secretId by its own ARN', () => {
    // Prepare
    const { stack, template } = synth;

    for (const [type, connector] of stack.connectorFunctions) {
      // Act
      const role = stack.getLogicalId(connector.role.node.defaultChild as never);
      const reads = resourcesOf(template, 'AWS::IAM::Policy')
        .filter(([, p]) => JSON.stringify(p.Roles) === JSON.stringify([{ Ref: role }]))
        .flatMap(([, p]) => (p.PolicyDocument as { Statement: Json[] }).Statement)
        .filter((s) => JSON.stringify(s.Action).includes('secretsmanager:GetSecretValue'));
      const own = config.connections.filter((c) => c.type === type);

      // Assess: one statement for the secrets it created, whatever their number, with a condition
      const shared = reads.filter((s) => s.Condition !== undefined);
      expect(own.filter((c) => !c.secretId).length, type).toBeGreaterThan(1);
      expect(shared, type).toHaveLength(1);
      // ... and every secretId it was given, exactly once
      const exact = reads
        .filter((s) => s.Condition === undefined)
        .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
      expect(exact.length, type).toBe(own.filter((c) => c.secretId).length);
    }
  }, 120_000);

  it('keeps a connector policy the same size with 100 secrets created as with one', () => {
    // Prepare: one scim connection, then a hundred; every secret created by the stack
    const scim = (count: number): ConfigFile => ({
      connections: Array.from({ length: count }, (_, n) => ({
        name: `app-${n}`,
        type: 'scim' as const,
        baseUrl: `https://app-${n}.example.com`,
      })),
      ...HR,
    });

    // Act
    const policySize = (config: ConfigFile) => {
      const { template, definitionOf } = synthesized(config);
      const figures = measureTemplate(template, 'Offboard', definitionOf);
      return figures.roles
        .filter((r) => r.logicalId.startsWith('ScimFunctionRole'))
        .map((r) => r.inlinePolicyChars);
    };

    // Assess
    const one = policySize(scim(1));
    expect(one).toHaveLength(1);
    expect(policySize(scim(100))).toEqual(one);
  }, 120_000);
});

describe('a stack past a deploy limit', () => {
  it('fails the synth, naming the limit, the figure and what to do, and writes no template', () => {
    // Prepare: 200 connections whose secrets the stack would create, one output each
    const outdir = mkdtempSync(join(tmpdir(), 'offboard-limits-'));
    const config: ConfigFile = {
      connections: Array.from({ length: 200 }, (_, n) => ({
        name: `app-${n}`,
        type: 'scim' as const,
        baseUrl: `https://app-${n}.example.com`,
      })),
      ...HR,
    };

    // Act
    const synth = () => synthesized(config, outdir);

    // Assess: the message says what, how many, the limit, and what to change ...
    expect(synth).toThrow(
      /the template declares 209 outputs, over the 200 CloudFormation allows in one stack \(each connection without secretId adds one, naming its secret\): give secretId to connections whose secret you create yourself, or deploy the connections as several stacks/,
    );
    // ... and nothing reached the cloud assembly that `cdk deploy` would deploy (where a
    // synth under the limit writes its template)
    expect(readdirSync(outdir).filter((file) => file.endsWith('.template.json'))).toEqual([]);
    const fine = mkdtempSync(join(tmpdir(), 'offboard-limits-'));
    synthesized({ ...config, connections: config.connections.slice(0, 10) }, fine);
    expect(existsSync(join(fine, 'Offboard.template.json'))).toBe(true);
  }, 120_000);

  it('fails the synth on a role whose secret ARNs outgrow its policy, where CDK would let it through', () => {
    // Prepare: 40 connections with long secret names of the operator's own. CDK counts an ARN
    // holding a token as 150 characters, so it keeps them all inline; deployed they take ~460.
    const config: ConfigFile = {
      connections: Array.from({ length: 40 }, (_, n) => ({
        name: `app-${n}`,
        type: 'scim' as const,
        baseUrl: `https://app-${n}.example.com`,
        secretId: `prod/saas/${'integrations/'.repeat(32)}app-${n}`,
      })),
      ...HR,
    };

    // Act
    const synth = () => synthesized(config);

    // Assess
    expect(synth).toThrow(
      /Offboard\/Default\/ScimFunction\/Role: its inline policies take up to [\d,]+ characters once deployed, over the 10,240 IAM allows a role \(each secretId is granted by its own ARN; secrets the stack creates share one grant\): let the stack create those secrets \(no secretId\)/,
    );
  }, 120_000);
});

describe('renderDeployed', () => {
  const template: CfnTemplate = {
    Resources: {
      Crm: { Type: 'AWS::SecretsManager::Secret', Properties: { Name: 'offboard/crm' } },
      Ledger: { Type: 'AWS::DynamoDB::Table', Properties: {} },
      Thing: { Type: 'AWS::Some::Thing', Properties: {} },
      PageUrl: { Type: 'AWS::Lambda::Url', Properties: {} },
    },
  };

  it('writes a reference as the longest value it can take once deployed', () => {
    // Act
    const secret = renderDeployed({ Ref: 'Crm' }, template, 'Offboard');
    const table = renderDeployed({ 'Fn::GetAtt': ['Ledger', 'Arn'] }, template, 'Offboard');
    const joined = renderDeployed(
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'AWS::Region' }]] },
      template,
      'Offboard',
    );

    // Assess: the longest partition, a region name longer than any, the suffix Secrets
    // Manager adds; a name CloudFormation generates, "<stack>-<logical id>-<13 characters>"
    expect(secret).toBe(
      `arn:aws-us-gov:secretsmanager:${'x'.repeat(16)}:000000000000:secret:offboard/crm-xxxxxx`,
    );
    expect(table).toBe(
      `arn:aws-us-gov:dynamodb:${'x'.repeat(16)}:000000000000:table/${'x'.repeat('Offboard'.length + 'Ledger'.length + 15)}`,
    );
    expect(joined).toBe(`arn:aws-us-gov:s3:::${'x'.repeat(16)}`);
  });

  it("writes a function URL (task-notify's OFFBOARD_TASK_PAGE_URL) as the URL Lambda gives, not as an unknown", () => {
    // Act
    const url = renderDeployed({ 'Fn::GetAtt': ['PageUrl', 'FunctionUrl'] }, template, 'Offboard');

    // Assess: https://<32 characters>.lambda-url.<region>.on.aws/, the region at its longest
    expect(url).toBe(`https://${'x'.repeat(32)}.lambda-url.${'x'.repeat(16)}.on.aws/`);
  });

  it('counts a reference it knows nothing about as the longest ARN, never as nothing', () => {
    // Act
    const unknown = renderDeployed({ 'Fn::GetAtt': ['Thing', 'Whatever'] }, template, 'Offboard');

    // Assess
    expect(String(unknown).length).toBe(2048);
  });

  it('refuses to measure a state machine whose definition it was not given', () => {
    // Prepare
    const withAsset: CfnTemplate = {
      Resources: {
        Machine: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: { DefinitionS3Location: { Bucket: 'b', Key: 'k.json' } },
        },
      },
    };

    // Act
    const measure = (): DeployFigures => measureTemplate(withAsset, 'Offboard');

    // Assess
    expect(measure).toThrow(/state machine Machine: its definition is not in the template/);
  });
});
