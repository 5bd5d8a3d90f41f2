import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigFileError, loadConfigFile } from '../lib/config';
import { DEFAULT_STACK_NAME, OffboardStack, stackNameProblem } from '../lib/offboard-stack';

// The CDK app: `npx cdk synth` reads config/connections.json (cdk.json context `config`);
// `npx cdk synth -c config=other.json` deploys another list of connections. A relative
// path is relative to the working directory, like any other command-line path.
// `-c stackName=Offboard-eu` deploys it as another stack (default `Offboard`): its secrets,
// functions and state machines are named after it, so stacks in one account never clash.
const app = new App();
const configPath: unknown = app.node.tryGetContext('config');
if (typeof configPath !== 'string' || configPath === '') {
  throw new Error("context 'config' must name the connections file, e.g. -c config=config/connections.json");
}
const stackName: unknown = app.node.tryGetContext('stackName') ?? DEFAULT_STACK_NAME;
const nameProblem =
  typeof stackName === 'string'
    ? stackNameProblem(stackName)
    : 'must be a string, e.g. -c stackName=Offboard';
if (nameProblem !== undefined || typeof stackName !== 'string') {
  console.error(
    `context stackName '${String(stackName)}': ${nameProblem}; e.g. -c stackName=Offboard-eu (letters, digits and hyphens, starting with a letter)`,
  );
  process.exit(2);
}

// Every finding fails the synth unless it is acknowledged, with a reason, where it occurs.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

// Environment-agnostic: the same template deploys to whichever account and region the
// credentials of `cdk deploy` point at.
try {
  new OffboardStack(app, stackName, {
    config: loadConfigFile(configPath),
    description: "offboard: switch off a leaver's SaaS accounts (Step Functions + Lambda)",
  });
} catch (error) {
  // A config the operator must fix: what is wrong and what to add, not a stack trace.
  if (!(error instanceof ConfigFileError)) throw error;
  // loadConfigFile names the file itself; the stack's checks do not know it.
  const message = error.message.startsWith(`config ${configPath}:`)
    ? error.message
    : `config ${configPath}: ${error.message.replace(/^config: /, '')}`;
  console.error(message);
  process.exit(2);
}
