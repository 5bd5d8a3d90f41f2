import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigFileError, loadConfigFile } from '../lib/config';
import { OffboardStack } from '../lib/offboard-stack';

// The CDK app: `npx cdk synth` reads config/connections.json (cdk.json context `config`);
// `npx cdk synth -c config=other.json` deploys another list of connections. A relative
// path is relative to the working directory, like any other command-line path.
const app = new App();
const configPath: unknown = app.node.tryGetContext('config');
if (typeof configPath !== 'string' || configPath === '') {
  throw new Error("context 'config' must name the connections file, e.g. -c config=config/connections.json");
}

// Every finding fails the synth unless it is acknowledged, with a reason, where it occurs.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

// Environment-agnostic: the same template deploys to whichever account and region the
// credentials of `cdk deploy` point at.
try {
  new OffboardStack(app, 'Offboard', {
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
