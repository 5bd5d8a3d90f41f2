import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Annotations,
  ArnFormat,
  CfnElement,
  CfnOutput,
  Duration,
  Fn,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
  Tags,
  Validations,
} from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { type ConnectionRef, type ConnectionType, SECRET_EXAMPLES } from '../lambdas/shared/connections';
import { endpointOf } from '../lambdas/shared/deployed';
import { effectiveRateLimit } from '../lambdas/shared/pacing';
import {
  type ConfigFile,
  ConfigFileError,
  type ConnectionConfig,
  configFileSchema,
  describeIssues,
} from './config';
import { OffboardFunction } from './constructs/offboard-function';
import { type CfnTemplate, deployLimitProblems, measureTemplate } from './deploy-limits';

/** The repository root, found from this file so that synth works from any working directory. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The state machine definition: the same file the local runner executes. */
export const OFFBOARD_USER_ASL = join(REPO_ROOT, 'statemachines', 'offboard-user.asl.json');
/** The scheduled audit's definition. */
export const OFFBOARD_AUDIT_ASL = join(REPO_ROOT, 'statemachines', 'offboard-audit.asl.json');
/** The bulk workflow's definition. */
export const OFFBOARD_BULK_ASL = join(REPO_ROOT, 'statemachines', 'offboard-bulk.asl.json');

/**
 * What each connection type deploys: its connector handler and the shape of its secret
 * (shown to the operator who fills it in). Adding a connection type is one line here.
 */
export const CONNECTOR_TYPES = {
  insightly: { entry: 'lambdas/handlers/insightly.ts' },
  'insightly-scim': { entry: 'lambdas/handlers/scim.ts' },
  'rapid7-insightvm': { entry: 'lambdas/handlers/rapid7-insightvm.ts' },
  'rapid7-platform': { entry: 'lambdas/handlers/rapid7-platform.ts' },
  gainsight: { entry: 'lambdas/handlers/gainsight.ts' },
  'gainsight-scim': { entry: 'lambdas/handlers/scim.ts' },
  scim: { entry: 'lambdas/handlers/scim.ts' },
} as const satisfies Record<ConnectionType, { entry: string }>;

/** What the names of the secrets the stack creates start with: `offboard/<connection>`. */
export const CREATED_SECRET_PREFIX = 'offboard/';

/**
 * The tag every secret the stack creates carries: the type of its connection. With the
 * `aws:cloudformation:stack-id` tag CloudFormation puts on what it creates (an `aws:` tag
 * nobody can set), it lets one grant cover a connector's created secrets, however many.
 */
export const SECRET_TYPE_TAG = 'offboard:connection-type';

/** Evidence bucket prefixes: before-states (kept), and a run's directory snapshots and bulk plans (expire). */
export const EVIDENCE_BUCKET_PREFIXES = {
  evidence: 'evidence/',
  directory: 'directory/',
  bulk: 'bulk/',
} as const;

/** How long directory snapshots and bulk plans stay: they hold personal data, and a run ends well before. */
export const WORK_OBJECTS_EXPIRE_AFTER = Duration.days(7);

/** A Secrets Manager ARN with the 6-character suffix Secrets Manager appends to the name. */
const COMPLETE_SECRET_ARN = /^arn:[^:]+:secretsmanager:[^:]*:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

/**
 * A connection as compiled into its connector function: where to go and which secret to
 * read. The connector takes these from its own bundle, never from its payload.
 */
type ConnectorConnection = Pick<
  ConnectionRef,
  'name' | 'type' | 'baseUrl' | 'tls' | 'secretId' | 'functionName' | 'rateLimit'
>;

/**
 * A connection as compiled into Normalize, normalize-bulk and audit-page: which function runs
 * it, at what pace. No base URL, secret id or TLS setting.
 */
type RoutedConnection = Pick<ConnectionRef, 'name' | 'type' | 'functionName' | 'rateLimit'> & {
  endpoint: string;
};

/** Properties of {@link OffboardStack}. */
export interface OffboardStackProps extends StackProps {
  /** The connections to deploy, as `loadConfigFile` returns them (validated again here). */
  readonly config: ConfigFile;
}

/**
 * The deployed offboarding workflow: the `OffboardUser` state machine, the Lambda steps it
 * calls, and one Secrets Manager secret per connection.
 */
export class OffboardStack extends Stack {
  /** First state: validates the input and resolves the connections. */
  public readonly normalizeFunction: OffboardFunction;
  /** Last state: turns the per-connection results into the summary. */
  public readonly summarizeFunction: OffboardFunction;
  /** One function per connection type in the config; it runs every step of those connections. */
  public readonly connectorFunctions: ReadonlyMap<ConnectionType, OffboardFunction>;
  /** Each connection's secret, by connection name: created by this stack or referenced. */
  public readonly secrets: ReadonlyMap<string, ISecret>;
  /** Where the workflow asks a person to switch off an account its API cannot. */
  public readonly taskTopic: Topic;
  /** The evidence: one item per connection per execution, with the before-state. */
  public readonly ledgerTable: Table;
  /** Writes the outcomes to the ledger. */
  public readonly recordFunction: OffboardFunction;
  /** Reads from the ledger what a reactivation restores. */
  public readonly restorePlanFunction: OffboardFunction;
  /** Claims an HR termination once (resent events are duplicates). */
  public readonly claimFunction: OffboardFunction;
  /** Failed or partial offboardings, and failed executions. */
  public readonly alarms: Alarm[];
  /** The scheduled audit, its schedule and its drift alarm. */
  public readonly audit: {
    stateMachine: StateMachine;
    schedule: Schedule;
    alarm: Alarm;
    page: OffboardFunction;
    tally: OffboardFunction;
  };
  /**
   * The HR system's "Employee Terminated" events: the rule that starts OffboardUser, the
   * queue of events it could not deliver, and their alarms. Absent with `"hrEvents": false`.
   */
  public readonly hrEvents?: { rule: Rule; deadLetterQueue: Queue; alarms: Alarm[] };
  /** Before-states too large for one ledger item, under `evidence/`. */
  public readonly evidenceBucket: Bucket;
  /** Request slots per connection, shared across executions (rate limits). */
  public readonly pacingTable: Table;
  /** The bulk workflow, the bucket of its lists and results, and the function that checks a list. */
  public readonly bulk: { stateMachine: StateMachine; bucket: Bucket; checkList: OffboardFunction };
  /** The `OffboardUser` workflow. */
  public readonly stateMachine: StateMachine;
  private readonly outputKeys = new Set<string>();

  constructor(scope: Construct, id: string, props: OffboardStackProps) {
    super(scope, id, props);

    // Tests and other callers may pass an object that never went through loadConfigFile.
    const parsed = configFileSchema.safeParse(props.config);
    if (!parsed.success) throw new ConfigFileError(`config: ${describeIssues(parsed.error)}`);
    const hrEvents = parsed.data.hrEvents;
    if (hrEvents === undefined || (hrEvents !== false && !hrEvents.sources)) {
      // Without sources, anyone allowed to put events on the bus could start an offboarding.
      throw new ConfigFileError(
        'config: hrEvents is required to deploy: add "hrEvents": {"sources": ["<the source your HR system sets on its events, e.g. com.example.hr>"]} (with "busName" if they arrive on another bus than the default), or "hrEvents": false to deploy without the HR rule',
      );
    }
    const connections = parsed.data.connections.map((connection) => {
      if (!connection.baseUrl) {
        throw new ConfigFileError(
          `connection '${connection.name}': baseUrl is required to deploy (only local runs fall back to the built-in sandbox)`,
        );
      }
      if ((connection.secret || connection.secretFile) && !connection.secretId) {
        // Deploying the value would put it in the template in clear text; the operator puts it.
        Annotations.of(this).addWarningV2(
          'offboard:inline-secret-not-deployed',
          `connection '${connection.name}': 'secret'/'secretFile' is for local runs and is not deployed; put the value into offboard/${connection.name}, or give a secretId`,
        );
      }
      if (connection.tls && 'rejectUnauthorized' in connection.tls) {
        // Allowed (on-prem consoles), but whoever reviews a deployment should see it.
        Annotations.of(this).addWarningV2(
          'offboard:tls-verification-off',
          `connection '${connection.name}': tls.rejectUnauthorized is false: its connector accepts any certificate for ${connection.baseUrl}, so a machine in the path could take its credentials; trust the console's CA with tls.caCert instead`,
        );
      }
      const { name, type, baseUrl } = connection;
      const rateLimit = effectiveRateLimit(type, connection.rateLimit);
      return { name, type, baseUrl, tls: connection.tls, rateLimit, ...this.connectionSecret(connection) };
    });
    this.secrets = new Map(connections.map((c) => [c.name, c.secret]));

    // Request slots per connection, shared by every execution: the vendors' rate limits are
    // kept across concurrent offboardings (a layoff), not only within one.
    this.pacingTable = new Table(this, 'PacingTable', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expires',
      // Only the next free request time per connection: nothing to keep.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // The evidence: every connection's outcome and the account as it was before, kept.
    this.ledgerTable = new Table(this, 'LedgerTable', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Only claims of HR events expire (30 days); outcome entries carry no `expires`.
      timeToLiveAttribute: 'expires',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.evidenceBucket = this.newEvidenceBucket();
    /** What every function that writes or reads evidence is told. */
    const evidenceEnvironment = {
      OFFBOARD_LEDGER_TABLE: this.ledgerTable.tableName,
      OFFBOARD_EVIDENCE_BUCKET: this.evidenceBucket.bucketName,
    };

    const connectorFunctions = new Map<ConnectionType, OffboardFunction>();
    // Literal names: the lists compiled into Normalize and the others name the connectors,
    // and a bundle cannot hold a CloudFormation token.
    const functionNames = new Map<ConnectionType, string>();
    for (const type of new Set(connections.map((c) => c.type))) {
      const functionName = this.connectorFunctionName(type);
      functionNames.set(type, functionName);
      const own = connections.filter((c) => c.type === type);
      const connector = new OffboardFunction(this, `${pascalCase(type)}Function`, {
        entry: join(REPO_ROOT, CONNECTOR_TYPES[type].entry),
        projectRoot: REPO_ROOT,
        description: `offboard: lookup, read, deactivate and verify users of '${type}' connections`,
        functionName,
        // Where to go and which secret to read come from here, never from the payload, and
        // only for this type's connections. A console's CA certificate is public information.
        connections: own.map(
          (c): ConnectorConnection => ({
            name: c.name,
            type: c.type,
            baseUrl: c.baseUrl,
            ...(c.tls ? { tls: c.tls } : {}),
            secretId: c.secretId,
            functionName,
            ...(c.rateLimit ? { rateLimit: c.rateLimit } : {}),
          }),
        ),
        environment: { OFFBOARD_PACING_TABLE: this.pacingTable.tableName, ...evidenceEnvironment },
        // A bulk or audit step reads a whole user list and works for up to a minute (BULK_BUDGET_MS)
        // before it hands back; the state machine gives it 150 s. Memory holds the list
        // (tens of thousands of records) and buys the CPU to match everyone against it.
        timeout: Duration.seconds(150),
        memorySize: 1024,
      });
      this.pacingTable.grant(connector.role, 'dynamodb:GetItem', 'dynamodb:PutItem');
      // Write-ahead evidence: the "intent" entry, with the before-state, goes into the ledger
      // (or, too large for one item, into the evidence bucket) before the vendor write. A
      // reactivation reads what to restore from the ledger itself (Query, one person's
      // partition), never from its payload. The audit's check against a vendor's directory
      // reads which accounts the ledger says are off (offboardedAccounts: a Scan of the
      // state entries).
      this.ledgerTable.grant(connector.role, 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan');
      // Before-states, and what a bulk run or an audit keeps between its steps: the vendor's
      // directory as read, and the bulk plan and its progress.
      this.allowEvidence(
        connector,
        ['s3:PutObject', 's3:GetObject'],
        Object.values(EVIDENCE_BUCKET_PREFIXES),
      );
      // S3 answers a read of an object not written yet with NoSuchKey only to a caller who may
      // list the bucket (AccessDenied otherwise), and a run's first step asks for its plan
      // before there is one. Listing shows object names, never what they hold.
      connector.role.addToPolicy(
        new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.evidenceBucket.bucketArn] }),
      );
      this.allowSecrets(connector, type, own);
      connectorFunctions.set(type, connector);
    }
    this.connectorFunctions = connectorFunctions;

    // Which function runs each connection and at what pace; no URL, secret id or TLS setting:
    // those live in the connectors, so no payload can redirect one.
    const routes: RoutedConnection[] = connections.map((c) => ({
      name: c.name,
      type: c.type,
      functionName: required(functionNames.get(c.type)),
      // Which tenant, as a digest: the ledger keeps it with every entry.
      endpoint: endpointOf(c),
      ...(c.rateLimit ? { rateLimit: c.rateLimit } : {}),
    }));
    this.normalizeFunction = new OffboardFunction(this, 'NormalizeFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/normalize.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: validate the execution input and resolve the connections',
      connections: routes,
    });
    this.summarizeFunction = new OffboardFunction(this, 'SummarizeFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/summarize.ts'),
      projectRoot: REPO_ROOT,
      description: "offboard: summarize the connections' outcomes",
    });

    this.recordFunction = new OffboardFunction(this, 'RecordFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/record.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: record every outcome, with the before-state, in the ledger',
      environment: evidenceEnvironment,
    });
    // Writes only: the workflow adds evidence, it never reads or changes what is there.
    this.ledgerTable.grant(this.recordFunction.role, 'dynamodb:PutItem');
    this.allowEvidence(this.recordFunction, ['s3:PutObject']);
    this.claimFunction = new OffboardFunction(this, 'ClaimFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/claim.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: claim an HR termination once, so a resent event is a recorded duplicate',
      environment: { OFFBOARD_LEDGER_TABLE: this.ledgerTable.tableName },
    });
    this.ledgerTable.grant(
      this.claimFunction.role,
      'dynamodb:PutItem',
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
    );
    this.restorePlanFunction = new OffboardFunction(this, 'RestorePlanFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/restore-plan.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: read from the ledger what a reactivation restores',
      environment: evidenceEnvironment,
    });
    // Reads only, one person's partition at a time, and the before-states kept in the bucket.
    this.ledgerTable.grant(this.restorePlanFunction.role, 'dynamodb:Query');
    this.allowEvidence(this.restorePlanFunction, ['s3:GetObject']);

    // Retained a year like the functions' logs. Execution data stays out: it holds PII.
    const stateMachineLogs = new LogGroup(this, 'OffboardUserLogs', {
      retention: RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Tasks for people: accounts whose vendor API cannot switch them off. The message
    // carries the task token that resumes the execution, so it is encrypted at rest.
    const taskKey = new Key(this, 'TaskTopicKey', {
      enableKeyRotation: true,
      description: 'offboard: encrypts the task topic (messages carry Step Functions task tokens)',
    });
    this.taskTopic = new Topic(this, 'TaskTopic', {
      displayName: 'offboard: accounts to switch off by hand',
      masterKey: taskKey,
      enforceSSL: true,
    });
    for (const email of parsed.data.taskEmails ?? [])
      this.taskTopic.addSubscription(new EmailSubscription(email));

    // Where 'Offboarding Finished' events go, for other tools to subscribe to (rules on it).
    const resultBus = EventBus.fromEventBusName(this, 'ResultBus', parsed.data.resultBusName ?? 'default');

    this.stateMachine = new StateMachine(this, 'OffboardUser', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(OFFBOARD_USER_ASL),
      definitionSubstitutions: {
        NormalizeFunctionArn: this.normalizeFunction.function.functionArn,
        SummarizeFunctionArn: this.summarizeFunction.function.functionArn,
        RecordFunctionArn: this.recordFunction.function.functionArn,
        ClaimFunctionArn: this.claimFunction.function.functionArn,
        RestorePlanFunctionArn: this.restorePlanFunction.function.functionArn,
        ResultBusName: resultBus.eventBusName,
        TaskTopicArn: this.taskTopic.topicArn,
      },
      tracingEnabled: true,
      logs: { destination: stateMachineLogs, level: LogLevel.ALL, includeExecutionData: false },
    });
    // The ASL names connector functions at run time (`FunctionName.$` from the payload), so
    // CDK cannot see those calls: allow them here. Only unqualified ARNs: the ASL never
    // calls a version or alias, so no `:*` wildcard is needed.
    const invoked = [
      this.normalizeFunction,
      this.summarizeFunction,
      this.recordFunction,
      this.claimFunction,
      this.restorePlanFunction,
      ...connectorFunctions.values(),
    ];
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: invoked.map((f) => f.function.functionArn),
      }),
    );
    // Spelled out rather than topic.grantPublish, which grants kms:GenerateDataKey*: SNS
    // needs exactly these two to encrypt a message for an encrypted topic.
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['sns:Publish'], resources: [this.taskTopic.topicArn] }),
    );
    this.stateMachine.addToRolePolicy(
      new PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [taskKey.keyArn] }),
    );
    resultBus.grantPutEventsTo(this.stateMachine);

    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'CloudWatch Logs delivery (logs:CreateLogDelivery and friends) and X-Ray (xray:PutTraceSegments, xray:GetSampling*) do not support resource-level permissions; the state machine role needs them on *.',
    });

    new CfnOutput(this, 'TaskTopicArn', {
      value: this.taskTopic.topicArn,
      description:
        'Tasks for people (accounts whose API cannot switch them off). Subscribe, then answer with: offboard task complete <token>',
    });
    this.bulk = this.bulkWorkflow(routes, [...connectorFunctions.values()]);
    this.audit = this.auditWorkflow(
      routes,
      [...connectorFunctions.values()],
      resultBus,
      parsed.data.audit ?? {},
    );
    // HR-system events: "Employee Terminated" from the configured sources, in this account,
    // on the configured bus, starts an offboarding (the whole event as input).
    this.hrEvents =
      hrEvents === false ? undefined : this.hrEventsRule(required(hrEvents.sources), hrEvents.busName);
    this.alarms = this.operations(parsed.data.alertEmails ?? [], [
      this.audit.alarm,
      ...(this.hrEvents?.alarms ?? []),
    ]);

    new CfnOutput(this, 'LedgerTableName', {
      value: this.ledgerTable.tableName,
      description: 'The evidence: query partition person#<email> for a person',
    });
    new CfnOutput(this, 'EvidenceBucketName', {
      value: this.evidenceBucket.bucketName,
      description:
        'Before-states too large for one ledger item, under evidence/ (the ledger entry names the object)',
    });
    new CfnOutput(this, 'StateMachineArn', {
      value: this.stateMachine.stateMachineArn,
      description:
        'Start an offboarding: aws stepfunctions start-execution --state-machine-arn <this> --input \'{"email":"jane@example.com"}\'',
    });

    // What `cdk deploy` would refuse and synth does not check (IAM policy sizes, the template's
    // size, resources and outputs, ...), measured on the final template: the synth fails
    // instead, saying what to change, and nothing is deployed.
    this.node.addValidation({ validate: () => this.deployLimitProblems() });
  }

  /** Every deploy-time limit the synthesized template reaches, named by construct path (see deploy-limits.ts). */
  private deployLimitProblems(): string[] {
    const template = this._toCloudFormation() as CfnTemplate;
    // The definitions are file assets: measured from the files they are made of.
    const definitions = new Map(
      (
        [
          [this.stateMachine, OFFBOARD_USER_ASL],
          [this.bulk.stateMachine, OFFBOARD_BULK_ASL],
          [this.audit.stateMachine, OFFBOARD_AUDIT_ASL],
        ] as const
      ).map(([machine, file]) => [this.getLogicalId(machine.node.defaultChild as CfnElement), file]),
    );
    const paths = new Map(
      this.node
        .findAll()
        .filter(CfnElement.isCfnElement)
        .map((element) => [this.getLogicalId(element), element.node.path.replace(/\/Resource$/, '')]),
    );
    const figures = measureTemplate(template, this.stackName, (id) => {
      const file = definitions.get(id);
      return file === undefined ? undefined : readFileSync(file, 'utf8');
    });
    return deployLimitProblems(figures, (id) => paths.get(id) ?? id);
  }

  /**
   * offboard-audit, on a schedule: re-checks every account the ledger says is off, page by
   * page; drift is reported, recorded, published, alarmed and, with `remediate`, switched
   * off again through OffboardUser.
   */
  private auditWorkflow(
    routes: RoutedConnection[],
    connectors: OffboardFunction[],
    resultBus: IEventBus,
    options: { schedule?: string; remediate?: boolean },
  ): OffboardStack['audit'] {
    const page = new OffboardFunction(this, 'AuditPageFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/audit-page.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: the next page of accounts the audit re-checks',
      environment: { OFFBOARD_LEDGER_TABLE: this.ledgerTable.tableName },
      connections: routes,
    });
    this.ledgerTable.grant(page.role, 'dynamodb:Scan');
    const tally = new OffboardFunction(this, 'AuditTallyFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/audit-tally.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: audit totals, and drift recorded in the ledger',
      environment: {
        OFFBOARD_LEDGER_TABLE: this.ledgerTable.tableName,
        OFFBOARD_EVIDENCE_BUCKET: this.evidenceBucket.bucketName,
      },
    });
    this.ledgerTable.grant(tally.role, 'dynamodb:PutItem');
    // Drift entries carry the account as the audit found it: as large as a before-state can be.
    this.allowEvidence(tally, ['s3:PutObject']);
    const logs = new LogGroup(this, 'OffboardAuditLogs', {
      retention: RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Named up front: the audit goes on in a new execution of itself before its history grows
    // long, and its role must name its own ARN without a circular reference.
    const stateMachineName = `${this.stackName}-OffboardAudit`;
    const selfArn = this.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const stateMachine = new StateMachine(this, 'OffboardAudit', {
      stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(OFFBOARD_AUDIT_ASL),
      definitionSubstitutions: {
        AuditPageFunctionArn: page.function.functionArn,
        AuditTallyFunctionArn: tally.function.functionArn,
        OffboardUserArn: this.stateMachine.stateMachineArn,
        ResultBusName: resultBus.eventBusName,
      },
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    });
    const allow = (actions: string[], resources: string[]) =>
      stateMachine.addToRolePolicy(new PolicyStatement({ actions, resources }));
    allow(
      ['lambda:InvokeFunction'],
      [page, tally, ...connectors].map((f) => f.function.functionArn),
    );
    // Remediation (OffboardUser), and the audit going on in a new execution of itself.
    allow(['states:StartExecution'], [this.stateMachine.stateMachineArn, selfArn]);
    allow(
      ['states:DescribeExecution', 'states:StopExecution'],
      [
        this.formatArn({
          service: 'states',
          resource: 'execution',
          resourceName: `${this.stateMachine.stateMachineName}:*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
    );
    allow(
      ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      [
        this.formatArn({
          service: 'events',
          resource: 'rule',
          resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
        }),
      ],
    );
    resultBus.grantPutEventsTo(stateMachine);
    Validations.of(stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'CloudWatch Logs delivery and X-Ray do not support resource-level permissions.',
    });
    Validations.of(stateMachine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${this.getLogicalId(this.stateMachine.node.defaultChild as CfnElement)}.Name>:*]`,
      reason:
        'Remediation executions of OffboardUser the audit starts itself: their names are generated at run time.',
    });

    const schedule = new Schedule(this, 'AuditSchedule', {
      description: 'offboard: re-check everyone offboarded',
      schedule: ScheduleExpression.expression(options.schedule ?? 'cron(0 6 * * ? *)'),
      target: new StepFunctionsStartExecution(stateMachine, {
        input: ScheduleTargetInput.fromObject({ remediate: options.remediate === true }),
      }),
    });

    const drift = new MetricFilter(this, 'AuditDrift', {
      logGroup: tally.logGroup,
      filterPattern: FilterPattern.literal(
        '{ $.message = "audit tallied" && $.drift > 0 && $.more IS FALSE }',
      ),
      metricNamespace: 'offboard',
      metricName: 'AuditDrift',
      metricValue: '$.drift',
      defaultValue: 0,
    });
    const alarm = new Alarm(this, 'AuditDriftAlarm', {
      alarmDescription:
        'The audit found accounts switched on again after offboarding (see the audit execution output and the ledger).',
      metric: drift.metric({ statistic: 'Maximum', period: Duration.hours(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    new CfnOutput(this, 'AuditStateMachineArn', {
      value: stateMachine.stateMachineArn,
      description: 'Re-check everyone offboarded now: start it with {"remediate": false}',
    });
    return { stateMachine, schedule, alarm, page, tally };
  }

  /**
   * What operators are told: an alarm when an offboarding ends failed or partial (from the
   * summarize function's structured log line, by a metric filter), and when an execution
   * itself fails or times out (bad HR event, for instance). With `alertEmails`, the alarms
   * mail those people through an encrypted topic.
   */
  private operations(alertEmails: readonly string[], others: readonly Alarm[]): Alarm[] {
    const notSucceeded = new MetricFilter(this, 'OffboardingNotSucceeded', {
      logGroup: this.summarizeFunction.logGroup,
      filterPattern: FilterPattern.literal(
        '{ $.message = "offboarding summarized" && ($.status = "failed" || $.status = "partial") }',
      ),
      metricNamespace: 'offboard',
      metricName: 'OffboardingsNotSucceeded',
      metricValue: '1',
      defaultValue: 0,
    });
    const alarms = [
      new Alarm(this, 'OffboardingNotSucceededAlarm', {
        alarmDescription:
          'An offboarding ended failed or partial: a connection still holds an active account. See the execution output.',
        metric: notSucceeded.metric({ statistic: 'Sum', period: Duration.minutes(5) }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'ExecutionFailedAlarm', {
        alarmDescription:
          'An OffboardUser execution failed or timed out (for example an HR event it could not read).',
        metric: new MathExpression({
          expression: 'failed + timedOut',
          usingMetrics: {
            failed: this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
            timedOut: this.stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
          },
          period: Duration.minutes(5),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
    if (alertEmails.length > 0) {
      const key = new Key(this, 'AlertTopicKey', {
        enableKeyRotation: true,
        description: 'offboard: encrypts alarm notifications',
      });
      // CloudWatch publishes to the topic and must use the key to do so.
      key.grantEncryptDecrypt(new ServicePrincipal('cloudwatch.amazonaws.com'));
      const topic = new Topic(this, 'AlertTopic', {
        displayName: 'offboard: alarms',
        masterKey: key,
        enforceSSL: true,
      });
      for (const email of alertEmails) topic.addSubscription(new EmailSubscription(email));
      for (const alarm of [...alarms, ...others]) alarm.addAlarmAction(new SnsAction(topic));
    }
    return [...alarms, ...others];
  }

  /**
   * offboard-bulk: many people, connection by connection through the connectors' bulk steps
   * (one read of each vendor's user list), and an OffboardUser execution only for the people
   * who need one. Lists of up to 200 come inline; longer ones as a CSV in the bulk bucket,
   * which the first function reads, checks and keeps in the evidence bucket.
   */
  private bulkWorkflow(routes: RoutedConnection[], connectors: OffboardFunction[]): OffboardStack['bulk'] {
    const bucket = this.privateBucket(
      'BulkBucket',
      'The bucket holds lists of people to offboard and the bulk results; reads and writes are recorded by the Step Functions execution history. Enable CloudTrail S3 data events for object-level audit rather than a second bucket of access logs.',
    );
    const checkList = new OffboardFunction(this, 'NormalizeBulkFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/normalize-bulk.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: check every entry of a bulk list before anyone is offboarded',
      connections: routes,
      environment: { OFFBOARD_EVIDENCE_BUCKET: this.evidenceBucket.bucketName },
    });
    // The checked list is kept in the evidence store by its SHA-256 (peopleRef), and every
    // later step reads that copy, whatever happens to the upload meanwhile.
    this.allowEvidence(checkList, ['s3:PutObject']);
    checkList.role.addToPolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects('*')] }),
    );
    const totals = new OffboardFunction(this, 'SummarizeBulkFunction', {
      entry: join(REPO_ROOT, 'lambdas/handlers/summarize-bulk.ts'),
      projectRoot: REPO_ROOT,
      description: 'offboard: totals of a bulk run',
    });

    const stateMachineName = `${this.stackName}-OffboardBulk`;
    const executions = (name: string) =>
      this.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${name}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    const logs = new LogGroup(this, 'OffboardBulkLogs', {
      retention: RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const stateMachine = new StateMachine(this, 'OffboardBulk', {
      stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(OFFBOARD_BULK_ASL),
      definitionSubstitutions: {
        NormalizeBulkFunctionArn: checkList.function.functionArn,
        SummarizeBulkFunctionArn: totals.function.functionArn,
        OffboardUserArn: this.stateMachine.stateMachineArn,
      },
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    });
    const allow = (actions: string[], resources: string[]) =>
      stateMachine.addToRolePolicy(new PolicyStatement({ actions, resources }));
    // The connectors too: a bulk run reads each vendor's directory and switches accounts off
    // through them directly (`FunctionName.$` from the connection's functionName, as in
    // OffboardUser), so CDK cannot see those calls.
    allow(
      ['lambda:InvokeFunction'],
      [checkList, totals, ...connectors].map((f) => f.function.functionArn),
    );
    // startExecution.sync:2 on OffboardUser: start, watch, stop its executions, and the
    // managed EventBridge rule Step Functions uses to learn that they ended.
    allow(['states:StartExecution'], [this.stateMachine.stateMachineArn]);
    allow(
      ['states:DescribeExecution', 'states:StopExecution'],
      [executions(this.stateMachine.stateMachineName)],
    );
    allow(
      ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      [
        this.formatArn({
          service: 'events',
          resource: 'rule',
          resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
        }),
      ],
    );
    Validations.of(checkList).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(bucket.node.defaultChild as CfnElement)}.Arn>/*]`,
      reason: 'Objects of the bulk bucket only: the lists people upload have names not known in advance.',
    });
    Validations.of(stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'CloudWatch Logs delivery and X-Ray do not support resource-level permissions.',
    });
    Validations.of(stateMachine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${this.getLogicalId(this.stateMachine.node.defaultChild as CfnElement)}.Name>:*]`,
      reason:
        'The OffboardUser executions the bulk run starts for people who need one: their names are generated at run time, under that state machine only.',
    });

    new CfnOutput(this, 'BulkStateMachineArn', {
      value: stateMachine.stateMachineArn,
      description:
        'Offboard many people: input {"emails": [...]} (up to 200) or {"source": {"bucket": <BulkBucketName>, "key": "<file>.csv"}}',
    });
    new CfnOutput(this, 'BulkBucketName', {
      value: bucket.bucketName,
      description:
        'Upload CSV lists (an "email" column) here; the checked list and the results are kept in the evidence bucket',
    });
    return { stateMachine, bucket, checkList };
  }

  /**
   * Where before-states too large for one ledger item go (the ledger entry names the
   * object). Versioned and retained like the ledger: evidence is never overwritten for good.
   */
  private newEvidenceBucket(): Bucket {
    const bucket = this.privateBucket(
      'EvidenceBucket',
      "Only the workflow's own functions write here, each object named by a ledger entry (who, which execution, when); versioning keeps every write. Enable CloudTrail S3 data events for object-level audit rather than a second bucket of access logs.",
    );
    // Directory snapshots and bulk plans hold personal data and serve one run: gone after 7
    // days, and the versions a step replaced (a plan is rewritten as the run goes) a day after
    // they were replaced. Evidence (under evidence/) is kept.
    for (const prefix of [EVIDENCE_BUCKET_PREFIXES.directory, EVIDENCE_BUCKET_PREFIXES.bulk]) {
      bucket.addLifecycleRule({
        id: `expire-${prefix.replace(/\/$/, '')}`,
        prefix,
        expiration: WORK_OBJECTS_EXPIRE_AFTER,
        noncurrentVersionExpiration: Duration.days(1),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      });
    }
    return bucket;
  }

  /**
   * A bucket only this stack's functions use: encrypted, TLS only, never public, versioned and
   * retained. `accessLogs` says why it has no server access log bucket (cdk-nag S1).
   */
  private privateBucket(id: string, accessLogs: string): Bucket {
    const bucket = new Bucket(this, id, {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(bucket).acknowledge({ id: 'AwsSolutions-S1', reason: accessLogs });
    return bucket;
  }

  /**
   * Lets `fn` do `actions` on the objects under `prefixes` of the evidence bucket (default:
   * `evidence/` only), nothing else.
   */
  private allowEvidence(
    fn: OffboardFunction,
    actions: string[],
    prefixes: readonly string[] = [EVIDENCE_BUCKET_PREFIXES.evidence],
  ): void {
    fn.role.addToPolicy(
      new PolicyStatement({
        actions,
        resources: prefixes.map((prefix) => this.evidenceBucket.arnForObjects(`${prefix}*`)),
      }),
    );
    const bucket = this.getLogicalId(this.evidenceBucket.node.defaultChild as CfnElement);
    for (const prefix of prefixes) {
      Validations.of(fn).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/${prefix}*]`,
        reason:
          prefix === EVIDENCE_BUCKET_PREFIXES.evidence
            ? 'Before-state objects under evidence/ only: one per account written, named at run time after their content.'
            : `A run's working objects under ${prefix} only (expired after ${WORK_OBJECTS_EXPIRE_AFTER.toDays()} days): named at run time after the execution and connection.`,
      });
    }
  }

  /**
   * Lets a connector read its own connections' secrets, and no other. The secrets the stack
   * creates are granted by one statement, whatever their number: names under `offboard/`,
   * created by this very stack (CloudFormation's `aws:cloudformation:stack-id` tag, which
   * nobody can set) for a connection of this type (the {@link SECRET_TYPE_TAG} tag). Each
   * secretId of the config is granted by its own ARN, exactly, whatever its name: it was not
   * created here, so the shared statement does not cover it.
   */
  private allowSecrets(
    connector: OffboardFunction,
    type: ConnectionType,
    own: readonly { secret: ISecret; created: boolean }[],
  ): void {
    if (own.some((c) => c.created)) {
      connector.role.addToPolicy(
        new PolicyStatement({
          actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
          resources: [
            this.formatArn({
              service: 'secretsmanager',
              resource: 'secret',
              resourceName: `${CREATED_SECRET_PREFIX}*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
          conditions: {
            StringEquals: {
              'aws:ResourceTag/aws:cloudformation:stack-id': this.stackId,
              [`aws:ResourceTag/${SECRET_TYPE_TAG}`]: type,
            },
          },
        }),
      );
      Validations.of(connector).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${CREATED_SECRET_PREFIX}*]`,
        reason: `The secrets this stack created for ${type} connections only: the statement's condition asks for this stack's aws:cloudformation:stack-id tag (set by CloudFormation, not settable by anyone) and ${SECRET_TYPE_TAG}=${type}. One statement instead of one ARN a secret keeps the role's policy the same size however many connections there are.`,
      });
    }
    for (const connection of own) if (!connection.created) connection.secret.grantRead(connector.role);
  }

  /**
   * A connector's function name, fixed at synth: the connection lists compiled into the other
   * functions name it, and a bundle cannot hold a CloudFormation token. `<stack>-<type>`; a
   * stack name too long for Lambda's 64 characters is cut and a hash of it keeps it unique.
   */
  private connectorFunctionName(type: ConnectionType): string {
    const name = `${this.stackName}-${type}`;
    if (name.length <= 64) return name;
    const hash = createHash('sha256').update(this.stackName).digest('hex').slice(0, 8);
    return `${this.stackName.slice(0, 64 - type.length - hash.length - 2)}-${hash}-${type}`;
  }

  /**
   * The rule that starts OffboardUser on "Employee Terminated" from the HR system: only the
   * configured sources, only events of this account. An event it cannot deliver (after
   * EventBridge's retries) lands in an encrypted dead-letter queue, and both that and a failed
   * delivery raise an alarm: a termination nobody acts on must not go unnoticed.
   */
  private hrEventsRule(sources: string[], busName?: string): NonNullable<OffboardStack['hrEvents']> {
    const bus =
      busName && busName !== 'default' ? EventBus.fromEventBusName(this, 'HrBus', busName) : undefined;
    const deadLetterQueue = new Queue(this, 'EmployeeTerminatedDeadLetterQueue', {
      // SQS-managed keys: EventBridge cannot use the AWS-managed aws/sqs KMS key.
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself the dead-letter queue (of the HR rule's target); it is watched by an alarm, and a queue of dead letters needs none of its own.",
    });
    const rule = new Rule(this, 'EmployeeTerminatedRule', {
      description: 'offboard: an HR system reports that someone left',
      ...(bus ? { eventBus: bus } : {}),
      eventPattern: {
        detailType: ['Employee Terminated'],
        source: sources,
        // Events forwarded from another account's bus carry that account: not ours to act on.
        account: [this.account],
      },
      targets: [
        new SfnStateMachine(this.stateMachine, {
          deadLetterQueue,
          // Keep trying a day (StartExecution throttled, a deploy in progress): an
          // offboarding late is better than none; after that the event waits in the queue.
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
        }),
      ],
    });

    // Ref of a rule on a custom bus is "<bus>|<rule>"; the metric's RuleName is the rule's name
    // alone (https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1131).
    const dimensionsMap: Record<string, string> = bus
      ? { EventBusName: bus.eventBusName, RuleName: Fn.select(1, Fn.split('|', rule.ruleName)) }
      : { RuleName: rule.ruleName };
    const alarms = [
      new Alarm(this, 'EmployeeTerminatedFailedAlarm', {
        alarmDescription:
          'EventBridge could not start OffboardUser for an "Employee Terminated" event, after its retries. The event is in the dead-letter queue: start the offboarding by hand.',
        metric: new Metric({
          namespace: 'AWS/Events',
          metricName: 'FailedInvocations',
          dimensionsMap,
          statistic: 'Sum',
          period: Duration.minutes(5),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // EventBridge sends the metric only when it is not zero.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, 'EmployeeTerminatedDeadLetterAlarm', {
        alarmDescription:
          'An "Employee Terminated" event waits in the dead-letter queue: nobody was offboarded for it. Read it, start the offboarding by hand, then delete the message (kept 14 days).',
        metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: Duration.minutes(5),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
    new CfnOutput(this, 'HrDeadLetterQueueUrl', {
      value: deadLetterQueue.queueUrl,
      description:
        'HR events that could not start an offboarding (kept 14 days); the alarm says when one arrives',
    });
    return { rule, deadLetterQueue, alarms };
  }

  /**
   * The connection's secret and the id its connector reads it by: the operator's secret
   * (`secretId`, a name or an ARN, used as given), or a new `offboard/<name>` holding `{}`.
   */
  private connectionSecret(connection: ConnectionConfig): {
    secret: ISecret;
    secretId: string;
    created: boolean;
  } {
    const id = `Secret-${connection.name}`;
    if (connection.secretId) {
      return {
        secret: referenceSecret(this, id, connection.secretId),
        secretId: connection.secretId,
        created: false,
      };
    }

    const secretName = `${CREATED_SECRET_PREFIX}${connection.name}`;
    const secret = new Secret(this, id, {
      secretName,
      description: `offboard: credentials of connection '${connection.name}' (${connection.type})`,
      // A placeholder, not a credential: vendors issue API keys in their own UI, so the
      // operator puts the real JSON with put-secret-value. CloudFormation does not
      // overwrite it on later deploys while this placeholder stays unchanged.
      secretStringValue: SecretValue.unsafePlainText('{}'),
    });
    // Which connector may read it (see allowSecrets).
    Tags.of(secret).add(SECRET_TYPE_TAG, connection.type);
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        "Vendor API keys are issued in the vendor's own UI and the vendors offer no API to rotate them, so a rotation Lambda could not do the job; the operator rotates by hand with put-secret-value.",
    });
    // Different names can fold to one key ('a-1' and 'a1' both give 'A1'); keys must be unique.
    const key = `SecretName${pascalCase(connection.name)}`;
    let unique = key;
    for (let n = 2; this.outputKeys.has(unique); n++) unique = `${key}${n}`;
    this.outputKeys.add(unique);
    new CfnOutput(this, unique, {
      // The literal name: `secret.secretName` would be parsed back out of the ARN.
      value: secretName,
      description: `Secret of connection '${connection.name}'. Holds '{}' until you run: aws secretsmanager put-secret-value --secret-id ${secretName} --secret-string '${SECRET_EXAMPLES[connection.type]}'`,
    });
    // By name, not ARN: the connector's connection list is compiled at synth, and the ARN
    // (with its random suffix) exists only after deploy. The name is unique in the region.
    return { secret, secretId: secretName, created: true };
  }
}

/**
 * A secret the operator already has. A complete ARN is imported as such (grants name it
 * exactly); a partial ARN or a name gets the `-??????` suffix wildcard from CDK.
 */
function referenceSecret(scope: Construct, id: string, secretId: string): ISecret {
  if (!secretId.startsWith('arn:')) return Secret.fromSecretNameV2(scope, id, secretId);
  return COMPLETE_SECRET_ARN.test(secretId)
    ? Secret.fromSecretCompleteArn(scope, id, secretId)
    : Secret.fromSecretPartialArn(scope, id, secretId);
}

/** `insightly-prod` → `InsightlyProd`, for construct and output ids. */
function pascalCase(value: string): string {
  return value
    .split(/[^a-zA-Z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** `value`, which the code above always set; a bug otherwise. */
function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('offboard-stack: a value set above is missing');
  return value;
}
