import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';

/**
 * Every state machine definition, validated as aws-local-stepfunctions would validate it
 * (ARNs and JSONPaths checked). The local runner no longer does it on every start
 * (local/runner.ts loadStateMachine): this file, in CI, and the CLI's build (build/cli.ts) do.
 */

const DIR = fileURLToPath(new URL('../../statemachines/', import.meta.url));
const DEFINITIONS = readdirSync(DIR)
  .filter((file) => file.endsWith('.asl.json'))
  .sort();

describe('statemachines/*.asl.json', () => {
  it('finds the definitions the stack deploys', () => {
    expect(DEFINITIONS).toEqual(
      expect.arrayContaining(['offboard-audit.asl.json', 'offboard-user.asl.json']),
    );
  });

  it.each(DEFINITIONS)('%s is a valid Amazon States Language definition', (file) => {
    // Prepare
    const definition = JSON.parse(readFileSync(join(DIR, file), 'utf8'));

    // Act
    const { isValid, errors } = aslValidator(definition, { checkArn: true, checkPaths: true });

    // Assess
    expect(errors).toEqual([]);
    expect(isValid).toBe(true);
  });

  it('refuses a definition whose Next names no state, so that a broken edit cannot pass', () => {
    // Prepare: the user workflow with its first state pointing nowhere
    const definition = JSON.parse(readFileSync(join(DIR, 'offboard-user.asl.json'), 'utf8'));
    definition.States[definition.StartAt].Next = 'No such state';

    // Act
    const { isValid } = aslValidator(definition, { checkArn: true, checkPaths: true });

    // Assess
    expect(isValid).toBe(false);
  });
});
