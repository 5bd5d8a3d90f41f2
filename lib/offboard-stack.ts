import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { ConfigFile } from './config';
import { OffboardWorkflow } from './offboard-workflow';

export {
  CONNECTOR_TYPES,
  createdSecretName,
  DEFAULT_BRAKE,
  EVIDENCE_BUCKET_PREFIXES,
  OFFBOARD_AUDIT_ASL,
  OFFBOARD_BULK_ASL,
  OFFBOARD_USER_ASL,
  SECRET_TYPE_TAG,
  TASK_HANDLERS,
  taskLinkKeyName,
  WORK_OBJECTS_EXPIRE_AFTER,
} from './offboard-workflow';

/** The stack's name when `-c stackName=...` gives none. */
export const DEFAULT_STACK_NAME = 'Offboard';

/**
 * What is wrong with a CloudFormation stack name, or undefined when it is one: letters,
 * digits and hyphens, starting with a letter, at most 128 characters (CloudFormation's rules).
 */
export function stackNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 128) return `is ${name.length} characters long, over the 128 CloudFormation allows`;
  if (!/^[A-Za-z]/.test(name)) return 'must start with a letter (CloudFormation stack names do)';
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(name)) {
    return 'may hold only letters, digits and hyphens (CloudFormation stack names do)';
  }
  return undefined;
}

/** Properties of {@link OffboardStack}. */
export interface OffboardStackProps extends StackProps {
  /** The connections to deploy, as `loadConfigFile` returns them (validated again here). */
  readonly config: ConfigFile;
}

/**
 * The deployed offboarding workflow as a stack of its own (what `npx cdk deploy` deploys):
 * an {@link OffboardWorkflow} and nothing else. The workflow's id is `Default`, which CDK
 * leaves out of logical ids: every resource keeps the logical id it had when this stack
 * held the resources itself, so a stack deployed before updates in place. Its public
 * properties are the workflow's (also reachable as `stack.workflow`).
 */
export class OffboardStack extends Stack {
  /** The workflow this stack holds. */
  public readonly workflow: OffboardWorkflow;
  public readonly normalizeFunction: OffboardWorkflow['normalizeFunction'];
  public readonly summarizeFunction: OffboardWorkflow['summarizeFunction'];
  public readonly connectorFunctions: OffboardWorkflow['connectorFunctions'];
  public readonly secrets: OffboardWorkflow['secrets'];
  public readonly taskTopic: OffboardWorkflow['taskTopic'];
  public readonly tasks: OffboardWorkflow['tasks'];
  public readonly brakeFunction: OffboardWorkflow['brakeFunction'];
  public readonly ledgerTable: OffboardWorkflow['ledgerTable'];
  public readonly recordFunction: OffboardWorkflow['recordFunction'];
  public readonly restorePlanFunction: OffboardWorkflow['restorePlanFunction'];
  public readonly claimFunction: OffboardWorkflow['claimFunction'];
  public readonly alarms: OffboardWorkflow['alarms'];
  public readonly audit: OffboardWorkflow['audit'];
  public readonly hrEvents: OffboardWorkflow['hrEvents'];
  public readonly evidenceBucket: OffboardWorkflow['evidenceBucket'];
  public readonly pacingTable: OffboardWorkflow['pacingTable'];
  public readonly bulk: OffboardWorkflow['bulk'];
  public readonly stateMachine: OffboardWorkflow['stateMachine'];

  constructor(scope: Construct, id: string, props: OffboardStackProps) {
    const { config, ...stackProps } = props;
    super(scope, id, stackProps);
    const workflow = new OffboardWorkflow(this, 'Default', { config });
    this.workflow = workflow;
    this.normalizeFunction = workflow.normalizeFunction;
    this.summarizeFunction = workflow.summarizeFunction;
    this.connectorFunctions = workflow.connectorFunctions;
    this.secrets = workflow.secrets;
    this.taskTopic = workflow.taskTopic;
    this.tasks = workflow.tasks;
    this.brakeFunction = workflow.brakeFunction;
    this.ledgerTable = workflow.ledgerTable;
    this.recordFunction = workflow.recordFunction;
    this.restorePlanFunction = workflow.restorePlanFunction;
    this.claimFunction = workflow.claimFunction;
    this.alarms = workflow.alarms;
    this.audit = workflow.audit;
    this.hrEvents = workflow.hrEvents;
    this.evidenceBucket = workflow.evidenceBucket;
    this.pacingTable = workflow.pacingTable;
    this.bulk = workflow.bulk;
    this.stateMachine = workflow.stateMachine;
  }
}
