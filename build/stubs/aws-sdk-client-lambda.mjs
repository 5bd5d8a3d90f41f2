// @aws-sdk/client-lambda in the CLI bundle (build/cli.ts aliases it here, with
// @aws-sdk/credential-providers). aws-local-stepfunctions calls AWS Lambda for a Task state
// without a local handler; a local run gives every Task state one (local/runner.ts, bulk.ts,
// audit.ts), and must never reach a deployed function. Asked anyway, it refuses, by name.
const refuse = () => {
  throw new Error(
    'a local run calls no AWS Lambda function: a Task state without a local handler (local/runner.ts) reached aws-local-stepfunctions',
  );
};

export class LambdaClient {
  constructor() {
    refuse();
  }
}

export class InvokeCommand {
  constructor() {
    refuse();
  }
}

export const fromCognitoIdentityPool = refuse;
