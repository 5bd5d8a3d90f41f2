/**
 * The `offboard` package, for other CDK apps: the {@link OffboardWorkflow} construct, the
 * stack that holds one ({@link OffboardStack}), and the config file's types and loader.
 * The package ships TypeScript source: run the app with tsx or ts-node (`"app": "npx tsx
 * bin/app.ts"` in cdk.json).
 */
export {
  type ConfigFile,
  ConfigFileError,
  type ConnectionConfig,
  configFileSchema,
  connectionConfigSchema,
  loadConfigFile,
} from './lib/config';
export {
  DEFAULT_STACK_NAME,
  OffboardStack,
  type OffboardStackProps,
  stackNameProblem,
} from './lib/offboard-stack';
export {
  createdSecretName,
  DEFAULT_BRAKE,
  OffboardWorkflow,
  type OffboardWorkflowProps,
  taskLinkKeyName,
} from './lib/offboard-workflow';
