import type { ConnectionRef } from '../../lambdas/shared/connections';
import type { StepEnvironment } from '../../lambdas/shared/steps';
import { SqliteLedger } from '../../local/sqlite-ledger';

/**
 * What a connector function works with, for a test that runs one step: the connections it
 * serves, the secret they share, and a ledger and evidence store in memory.
 */
export function stepEnvironment(
  connections: ConnectionRef | ConnectionRef[],
  secret: unknown,
): StepEnvironment & { ledger: () => SqliteLedger } {
  const ledger = SqliteLedger.inMemory();
  const own = Array.isArray(connections) ? connections : [connections];
  return {
    connections: () => own,
    resolveSecret: async () => secret,
    ledger: () => ledger,
    blobs: ledger.blobs,
  };
}
