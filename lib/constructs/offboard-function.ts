import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Properties of {@link OffboardFunction}. */
export interface OffboardFunctionProps {
  /** Absolute path of the handler module (it exports `handler`). */
  readonly entry: string;
  /** Absolute path of the repository root: esbuild resolves packages from here. */
  readonly projectRoot: string;
  /** Shown in the Lambda console. */
  readonly description: string;
  /** Extra environment variables, on top of the ones every offboard function gets. */
  readonly environment?: Record<string, string>;
}

/**
 * One Lambda step of the offboard workflow: Node.js 22 on ARM, ESM bundled by the local
 * esbuild (no Docker), X-Ray tracing, JSON logs into its own log group, and its own role
 * that starts with nothing but writing to that log group. Callers grant the rest.
 */
export class OffboardFunction extends Construct {
  /** The function. */
  public readonly function: NodejsFunction;
  /** The function's execution role: grant it what this step needs and no more. */
  public readonly role: Role;
  /** Where the function logs. */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: OffboardFunctionProps) {
    super(scope, id);

    // Retained and kept a year: the logs are the audit trail of who was switched off, when.
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Our own role instead of the default one: AWSLambdaBasicExecutionRole would allow
    // creating and writing any log group in the account; this one writes to one group.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      projectRoot: props.projectRoot,
      depsLockFilePath: join(props.projectRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: Duration.seconds(30),
      memorySize: 256,
      tracing: Tracing.ACTIVE,
      loggingFormat: LoggingFormat.JSON,
      logGroup: this.logGroup,
      role: this.role,
      environment: {
        POWERTOOLS_SERVICE_NAME: 'offboard',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        // Error classes' names are matched by the state machine's Retry/Catch. They set a
        // literal `this.name` too, but keeping names also keeps stack traces readable.
        keepNames: true,
        minify: true,
        sourceMap: true,
        mainFields: ['module', 'main'],
        // Some dependencies still call require() for Node built-ins; ESM has no require.
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        forceDockerBundling: false,
      },
    });

    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) does not support resource-level permissions; these are the only Resource::* statements in this role.',
      },
      {
        id: 'AwsSolutions-L1',
        reason:
          'The project targets nodejs22.x on purpose: it is the Node version the code, the tests and the local runner use (package.json engines and the node devDependency).',
      },
    );
  }
}
