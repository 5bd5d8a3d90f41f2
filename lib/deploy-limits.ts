/**
 * What CloudFormation, IAM, Lambda, Step Functions and EventBridge refuse at `cdk deploy` that
 * `cdk synth` does not check, measured on the synthesized template. Every figure is an upper
 * bound of the deployed value: a reference (`Ref`, `Fn::GetAtt`, a pseudo parameter) counts as
 * the longest value it can take once deployed (the longest partition and region names, a name
 * CloudFormation generates at its longest), so a template these checks pass cannot meet the
 * limit at deploy time.
 */

/** The limits checked, as each service documents them. */
export const DEPLOY_LIMITS = {
  /** CloudFormation: a template uploaded through S3 (as `cdk deploy` does), "1 MB", read as 10^6 bytes (as CDK does). */
  templateBytes: 1_000_000,
  /** CloudFormation: resources declared in one stack. */
  resources: 500,
  /** CloudFormation: outputs declared in one stack. */
  outputs: 200,
  /** IAM: all the inline policies of one role together, in characters without whitespace. */
  roleInlinePolicyChars: 10_240,
  /** IAM: one customer managed policy, in characters without whitespace. */
  managedPolicyChars: 6_144,
  /** IAM: managed policies attached to one role (the default quota; it can be raised to 20). */
  managedPoliciesPerRole: 10,
  /** IAM: a role's trust policy (the default quota). */
  trustPolicyChars: 2_048,
  /** Lambda: one function's environment variables together. */
  lambdaEnvironmentBytes: 4 * 1024,
  /** Step Functions: a state machine definition (CreateStateMachine's `definition`). */
  stateMachineDefinitionBytes: 1_048_576,
  /** EventBridge: a rule's event pattern (the default quota; it can be raised to 4,096). */
  eventPatternChars: 2_048,
} as const;

/** A synthesized CloudFormation template, as `Template.toJSON()` or the stack's own rendering gives it. */
export interface CfnTemplate {
  Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  Outputs?: Record<string, unknown>;
}

/** What a deployed template will hold, at most, against each limit of {@link DEPLOY_LIMITS}. */
export interface DeployFigures {
  /** The template as `cdk deploy` uploads it (CDK writes it with an indent of 1). */
  templateBytes: number;
  resources: number;
  outputs: number;
  /** Each role: its inline policies together, and how many managed policies it has. */
  roles: {
    logicalId: string;
    inlinePolicyChars: number;
    managedPolicies: number;
    trustPolicyChars: number;
  }[];
  /** Each inline policy (`AWS::IAM::Policy`) on its own. */
  inlinePolicies: { logicalId: string; chars: number }[];
  /** Each customer managed policy. */
  managedPolicies: { logicalId: string; chars: number }[];
  /** Each function's environment variables, as the JSON object Lambda receives. */
  functionEnvironments: { logicalId: string; bytes: number }[];
  /** Each state machine's definition once its substitutions are made. */
  stateMachineDefinitions: { logicalId: string; bytes: number }[];
  /** Each EventBridge rule's event pattern. */
  eventPatterns: { logicalId: string; chars: number }[];
}

/** The longest value each pseudo parameter takes in any partition. */
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws-us-gov',
  // Longer than any region's name (us-isof-south-1, eusc-de-east-1 ...).
  'AWS::Region': 'x'.repeat(16),
  'AWS::AccountId': '0'.repeat(12),
  'AWS::URLSuffix': 'amazonaws.com.cn',
  'AWS::NoValue': '',
  'AWS::NotificationARNs': '',
};

/** An ARN's longest length, for a reference we know nothing about. */
const UNKNOWN_LENGTH = 2048;

type Names = { name: string; stackName: string };
type Shape = {
  /** The property holding the resource's physical name, when the template may set it. */
  nameProperty?: string;
  /** The longest name the service accepts (CloudFormation's generated names are cut to it). */
  maxName: number;
  /** What `Ref` returns. */
  ref: (n: Names) => string;
  /** What `Fn::GetAtt` returns, by attribute. */
  attributes: Record<string, (n: Names) => string>;
};

const P = PSEUDO['AWS::Partition'];
const R = PSEUDO['AWS::Region'];
const A = PSEUDO['AWS::AccountId'];
const arn = (service: string, rest: string, region = R, account = A) =>
  `arn:${P}:${service}:${region}:${account}:${rest}`;

/** What references to each resource type this stack uses turn into, at their longest. */
const SHAPES: Record<string, Shape> = {
  'AWS::Lambda::Function': {
    nameProperty: 'FunctionName',
    maxName: 64,
    ref: ({ name }) => name,
    attributes: { Arn: ({ name }) => arn('lambda', `function:${name}`) },
  },
  'AWS::Lambda::Url': {
    maxName: 64,
    ref: () => 'x'.repeat(UNKNOWN_LENGTH),
    // https://<32 characters>.lambda-url.<region>.on.aws/
    attributes: {
      FunctionUrl: () => `https://${'x'.repeat(32)}.lambda-url.${R}.on.aws/`,
      FunctionArn: ({ name }) => arn('lambda', `function:${name}`),
    },
  },
  'AWS::IAM::Role': {
    nameProperty: 'RoleName',
    maxName: 64,
    ref: ({ name }) => name,
    attributes: { Arn: ({ name }) => arn('iam', `role/${name}`, ''), RoleId: () => 'x'.repeat(21) },
  },
  'AWS::IAM::ManagedPolicy': {
    nameProperty: 'ManagedPolicyName',
    maxName: 128,
    ref: ({ name }) => arn('iam', `policy/${name}`, ''),
    attributes: {},
  },
  'AWS::DynamoDB::Table': {
    nameProperty: 'TableName',
    maxName: 255,
    ref: ({ name }) => name,
    attributes: { Arn: ({ name }) => arn('dynamodb', `table/${name}`) },
  },
  'AWS::S3::Bucket': {
    nameProperty: 'BucketName',
    maxName: 63,
    ref: ({ name }) => name,
    attributes: {
      Arn: ({ name }) => arn('s3', name, '', ''),
      DomainName: ({ name }) => `${name}.s3.${PSEUDO['AWS::URLSuffix']}`,
      RegionalDomainName: ({ name }) => `${name}.s3.${R}.${PSEUDO['AWS::URLSuffix']}`,
    },
  },
  'AWS::SecretsManager::Secret': {
    nameProperty: 'Name',
    maxName: 512,
    // Secrets Manager appends a dash and six characters to the name.
    ref: ({ name }) => arn('secretsmanager', `secret:${name}-xxxxxx`),
    attributes: { Id: ({ name }) => arn('secretsmanager', `secret:${name}-xxxxxx`) },
  },
  'AWS::SNS::Topic': {
    nameProperty: 'TopicName',
    maxName: 256,
    ref: ({ name }) => arn('sns', name),
    attributes: { TopicArn: ({ name }) => arn('sns', name), TopicName: ({ name }) => name },
  },
  'AWS::KMS::Key': {
    maxName: 36,
    ref: () => 'x'.repeat(36),
    attributes: { Arn: () => arn('kms', `key/${'x'.repeat(36)}`), KeyId: () => 'x'.repeat(36) },
  },
  'AWS::SQS::Queue': {
    nameProperty: 'QueueName',
    maxName: 80,
    ref: ({ name }) => `https://sqs.${R}.${PSEUDO['AWS::URLSuffix']}/${A}/${name}`,
    attributes: {
      Arn: ({ name }) => arn('sqs', name),
      QueueName: ({ name }) => name,
      QueueUrl: ({ name }) => `https://sqs.${R}.${PSEUDO['AWS::URLSuffix']}/${A}/${name}`,
    },
  },
  'AWS::StepFunctions::StateMachine': {
    nameProperty: 'StateMachineName',
    maxName: 80,
    ref: ({ name }) => arn('states', `stateMachine:${name}`),
    attributes: { Arn: ({ name }) => arn('states', `stateMachine:${name}`), Name: ({ name }) => name },
  },
  'AWS::Logs::LogGroup': {
    nameProperty: 'LogGroupName',
    maxName: 512,
    ref: ({ name }) => name,
    attributes: { Arn: ({ name }) => arn('logs', `log-group:${name}:*`) },
  },
  'AWS::Events::Rule': {
    nameProperty: 'Name',
    maxName: 64,
    // On a custom bus the Ref is "<bus>|<rule>"; a bus name is at most 256 characters.
    ref: ({ name }) => `${'x'.repeat(256)}|${name}`,
    attributes: { Arn: ({ name }) => arn('events', `rule/${'x'.repeat(256)}/${name}`) },
  },
  'AWS::Scheduler::Schedule': {
    nameProperty: 'Name',
    maxName: 64,
    ref: ({ name }) => name,
    attributes: { Arn: ({ name }) => arn('scheduler', `schedule/${'x'.repeat(64)}/${name}`) },
  },
};

/**
 * Renders a template value as it will be once deployed, each reference at its longest: the
 * result is plain JSON (strings, numbers, arrays, objects), whose length bounds the deployed one.
 */
export function renderDeployed(value: unknown, template: CfnTemplate, stackName: string): unknown {
  const render = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(render);
    if (v === null || typeof v !== 'object') return v;
    const entries = Object.entries(v as Record<string, unknown>);
    const [key, argument] = entries[0] ?? [];
    if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
      return intrinsic(key, argument);
    }
    return Object.fromEntries(entries.map(([k, inner]) => [k, render(inner)]));
  };
  const text = (v: unknown): string => {
    const rendered = render(v);
    return typeof rendered === 'string' ? rendered : JSON.stringify(rendered);
  };
  const physicalName = (logicalId: string): { shape?: Shape; names: Names } => {
    const resource = template.Resources?.[logicalId];
    const shape = resource ? SHAPES[resource.Type] : undefined;
    const given = shape?.nameProperty ? resource?.Properties?.[shape.nameProperty] : undefined;
    // CloudFormation names what the template leaves unnamed "<stack>-<logical id>-<12 or 13
    // random characters>", cut to what the service accepts.
    const name =
      given !== undefined
        ? text(given)
        : 'x'.repeat(Math.min(shape?.maxName ?? UNKNOWN_LENGTH, stackName.length + logicalId.length + 15));
    return { ...(shape ? { shape } : {}), names: { name, stackName } };
  };
  const ref = (name: string): string => {
    const pseudo = PSEUDO[name];
    if (pseudo !== undefined) return pseudo;
    if (name === 'AWS::StackName') return stackName;
    if (name === 'AWS::StackId') return arn('cloudformation', `stack/${stackName}/${'x'.repeat(36)}`);
    const { shape, names } = physicalName(name);
    return shape ? shape.ref(names) : 'x'.repeat(UNKNOWN_LENGTH);
  };
  const getAtt = (logicalId: string, attribute: string): string => {
    const { shape, names } = physicalName(logicalId);
    const produce = shape?.attributes[attribute];
    return produce ? produce(names) : 'x'.repeat(UNKNOWN_LENGTH);
  };
  const intrinsic = (name: string, argument: unknown): unknown => {
    switch (name) {
      case 'Ref':
        return ref(String(argument));
      case 'Fn::GetAtt': {
        const [logicalId, ...attribute] = Array.isArray(argument)
          ? argument.map(String)
          : String(argument).split('.');
        return getAtt(logicalId ?? '', attribute.join('.'));
      }
      case 'Fn::Join': {
        const [separator, parts] = argument as [string, unknown];
        const list = render(parts);
        return Array.isArray(list)
          ? list.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(separator)
          : text(list);
      }
      case 'Fn::Split':
        // Any piece is at most the whole string.
        return [text((argument as [string, unknown])[1])];
      case 'Fn::Select': {
        const [index, list] = argument as [number, unknown];
        const rendered = render(list);
        return Array.isArray(rendered) ? (rendered[Number(index)] ?? rendered[0]) : rendered;
      }
      case 'Fn::Sub': {
        const [body, variables] = Array.isArray(argument)
          ? (argument as [string, Record<string, unknown>])
          : [String(argument), {}];
        return body.replace(/\$\{(!?)([^}]*)\}/g, (_whole, literal: string, reference: string) => {
          if (literal) return `\${${reference}}`;
          if (reference in variables) return text(variables[reference]);
          const dot = reference.indexOf('.');
          return dot > 0 && !reference.startsWith('AWS::')
            ? getAtt(reference.slice(0, dot), reference.slice(dot + 1))
            : ref(reference);
        });
      }
      case 'Fn::If': {
        const [, whenTrue, whenFalse] = argument as [unknown, unknown, unknown];
        const a = render(whenTrue);
        const b = render(whenFalse);
        return JSON.stringify(a).length >= JSON.stringify(b).length ? a : b;
      }
      case 'Fn::Base64':
        return 'x'.repeat(Math.ceil(text(argument).length / 3) * 4);
      default:
        return 'x'.repeat(UNKNOWN_LENGTH);
    }
  };
  return render(value);
}

/** The JSON of a rendered value without whitespace: how IAM and Lambda count a document. */
function compactLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * Measures a synthesized template against every limit of {@link DEPLOY_LIMITS}. A state
 * machine whose definition is a file asset (`DefinitionS3Location`, as `DefinitionBody.fromFile`
 * makes it) is measured from `definitionOf` its logical id, the file's text; one it cannot find
 * is an error rather than a definition counted as empty.
 */
export function measureTemplate(
  template: CfnTemplate,
  stackName: string,
  definitionOf: (logicalId: string) => string | undefined = () => undefined,
): DeployFigures {
  const resources = Object.entries(template.Resources ?? {});
  const deployed = (value: unknown) => renderDeployed(value, template, stackName);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const roleIdsOf = (roles: unknown): string[] =>
    (Array.isArray(roles) ? roles : [])
      .map((role) => (role as { Ref?: unknown }).Ref)
      .filter((id): id is string => typeof id === 'string');

  const inlinePolicies = ofType('AWS::IAM::Policy').map(([logicalId, r]) => ({
    logicalId,
    chars: compactLength(deployed(r.Properties?.PolicyDocument)),
    roles: roleIdsOf(r.Properties?.Roles),
  }));
  const managedPolicies = ofType('AWS::IAM::ManagedPolicy').map(([logicalId, r]) => ({
    logicalId,
    chars: compactLength(deployed(r.Properties?.PolicyDocument)),
    roles: roleIdsOf(r.Properties?.Roles),
  }));
  const roles = ofType('AWS::IAM::Role').map(([logicalId, r]) => {
    const own = (r.Properties?.Policies as { PolicyDocument: unknown }[] | undefined) ?? [];
    const attached = (r.Properties?.ManagedPolicyArns as unknown[] | undefined) ?? [];
    return {
      logicalId,
      inlinePolicyChars:
        own.reduce((sum, p) => sum + compactLength(deployed(p.PolicyDocument)), 0) +
        inlinePolicies.filter((p) => p.roles.includes(logicalId)).reduce((sum, p) => sum + p.chars, 0),
      managedPolicies: attached.length + managedPolicies.filter((p) => p.roles.includes(logicalId)).length,
      trustPolicyChars: compactLength(deployed(r.Properties?.AssumeRolePolicyDocument)),
    };
  });
  const functionEnvironments = ofType('AWS::Lambda::Function').map(([logicalId, r]) => ({
    logicalId,
    bytes: compactLength(deployed((r.Properties?.Environment as { Variables?: unknown })?.Variables ?? {})),
  }));
  const stateMachineDefinitions = ofType('AWS::StepFunctions::StateMachine').map(([logicalId, r]) => {
    const inTemplate = r.Properties?.DefinitionString ?? r.Properties?.Definition;
    const text = inTemplate === undefined ? definitionOf(logicalId) : deployed(inTemplate);
    if (text === undefined) {
      throw new Error(
        `deploy limits: state machine ${logicalId}: its definition is not in the template, and its text was not given`,
      );
    }
    let definition = typeof text === 'string' ? text : JSON.stringify(text);
    const substitutions = (r.Properties?.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(substitutions)) {
      const rendered = deployed(value);
      definition = definition
        .split(`\${${key}}`)
        .join(typeof rendered === 'string' ? rendered : JSON.stringify(rendered));
    }
    return { logicalId, bytes: Buffer.byteLength(definition, 'utf8') };
  });
  const eventPatterns = ofType('AWS::Events::Rule')
    .filter(([, r]) => r.Properties?.EventPattern !== undefined)
    .map(([logicalId, r]) => ({
      logicalId,
      chars: JSON.stringify(deployed(r.Properties?.EventPattern)).length,
    }));

  return {
    templateBytes: Buffer.byteLength(JSON.stringify(template, undefined, 1), 'utf8'),
    resources: resources.length,
    outputs: Object.keys(template.Outputs ?? {}).length,
    roles,
    inlinePolicies: inlinePolicies.map(({ logicalId, chars }) => ({ logicalId, chars })),
    managedPolicies: managedPolicies.map(({ logicalId, chars }) => ({ logicalId, chars })),
    functionEnvironments,
    stateMachineDefinitions,
    eventPatterns,
  };
}

/** What to do when a stack holds too much: the same advice for every limit that grows with connections. */
const SPLIT =
  'deploy the connections as several stacks (one config each, each with its own name: -c stackName=<name>)';

/**
 * Every limit of {@link DEPLOY_LIMITS} the template reaches, each as a message naming what
 * (through `describe`, from a logical id to something a person recognizes), the figure, the
 * limit, and what to do. Empty when the template deploys.
 */
export function deployLimitProblems(
  figures: DeployFigures,
  describe: (logicalId: string) => string = (id) => id,
): string[] {
  const L = DEPLOY_LIMITS;
  const n = (value: number) => value.toLocaleString('en-US');
  const problems: string[] = [];
  if (figures.resources > L.resources) {
    problems.push(
      `the template declares ${n(figures.resources)} resources, over the ${n(L.resources)} CloudFormation allows in one stack (each connection without secretId adds its secret): give secretId to connections whose secret you create yourself, or ${SPLIT}`,
    );
  }
  if (figures.outputs > L.outputs) {
    problems.push(
      `the template declares ${n(figures.outputs)} outputs, over the ${n(L.outputs)} CloudFormation allows in one stack (each connection without secretId adds one, naming its secret): give secretId to connections whose secret you create yourself, or ${SPLIT}`,
    );
  }
  if (figures.templateBytes > L.templateBytes) {
    problems.push(
      `the template takes ${n(figures.templateBytes)} bytes, over the ${n(L.templateBytes)} CloudFormation accepts: ${SPLIT}`,
    );
  }
  for (const role of figures.roles) {
    if (role.inlinePolicyChars > L.roleInlinePolicyChars) {
      problems.push(
        `${describe(role.logicalId)}: its inline policies take up to ${n(role.inlinePolicyChars)} characters once deployed, over the ${n(L.roleInlinePolicyChars)} IAM allows a role (each secretId is granted by its own ARN; secrets the stack creates share one grant): let the stack create those secrets (no secretId), or ${SPLIT}`,
      );
    }
    if (role.managedPolicies > L.managedPoliciesPerRole) {
      problems.push(
        `${describe(role.logicalId)}: ${role.managedPolicies} managed policies, over the ${L.managedPoliciesPerRole} IAM attaches to a role by default (CDK moves what its inline policy cannot hold into managed policies; each secretId is granted by its own ARN): let the stack create those secrets (no secretId), or ${SPLIT}`,
      );
    }
    if (role.trustPolicyChars > L.trustPolicyChars) {
      problems.push(
        `${describe(role.logicalId)}: its trust policy takes up to ${n(role.trustPolicyChars)} characters, over the ${n(L.trustPolicyChars)} IAM allows`,
      );
    }
  }
  for (const policy of figures.managedPolicies) {
    if (policy.chars > L.managedPolicyChars) {
      problems.push(
        `${describe(policy.logicalId)}: takes up to ${n(policy.chars)} characters once deployed, over the ${n(L.managedPolicyChars)} IAM allows a managed policy (long secretIds, each granted by its own ARN): let the stack create those secrets (no secretId), or ${SPLIT}`,
      );
    }
  }
  for (const fn of figures.functionEnvironments) {
    if (fn.bytes > L.lambdaEnvironmentBytes) {
      problems.push(
        `${describe(fn.logicalId)}: its environment variables take up to ${n(fn.bytes)} bytes, over the ${n(L.lambdaEnvironmentBytes)} Lambda allows a function`,
      );
    }
  }
  for (const machine of figures.stateMachineDefinitions) {
    if (machine.bytes > L.stateMachineDefinitionBytes) {
      problems.push(
        `${describe(machine.logicalId)}: its definition takes up to ${n(machine.bytes)} bytes once its substitutions are made, over the ${n(L.stateMachineDefinitionBytes)} Step Functions accepts`,
      );
    }
  }
  for (const rule of figures.eventPatterns) {
    if (rule.chars > L.eventPatternChars) {
      problems.push(
        `${describe(rule.logicalId)}: its event pattern takes up to ${n(rule.chars)} characters, over the ${n(L.eventPatternChars)} EventBridge allows by default: list fewer hrEvents.sources`,
      );
    }
  }
  return problems;
}
