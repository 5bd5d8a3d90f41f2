// asl-validator in the CLI bundle (build/cli.ts aliases it here). aws-local-stepfunctions
// imports it to validate a definition on every start; the local runner asks it not to
// (local/runner.ts, noValidate), since every definition is validated when the bundle is built
// and in CI. So ajv and the JSONPath validator, about 230 KiB, stay out of what a command loads.
export default function aslValidator() {
  throw new Error(
    'asl-validator is left out of the CLI bundle: the state machine definitions are validated when it is built (build/cli.ts)',
  );
}
