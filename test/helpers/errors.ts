import { expect } from 'vitest';
import { OffboardError } from '../../lambdas/shared/errors';

/** The error a promise rejects with; fails the test when it resolves, or rejects with anything not ours. */
export async function rejectionOf(promise: Promise<unknown>): Promise<OffboardError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OffboardError);
    return error as OffboardError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
