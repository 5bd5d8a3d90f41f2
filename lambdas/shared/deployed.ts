import { createHash } from 'node:crypto';
import { z } from 'zod';
import { baseUrlSchema, type ConnectionRef, connectionRefSchema } from './connections';
import { ConfigError } from './errors';
import { describeIssues } from './issues';

/**
 * A connection as a function knows it. Connector functions get every field; the functions
 * that only route (normalize, the bulk and audit readers) get no base URL, secret id or TLS.
 */
export const deployedConnectionSchema = connectionRefSchema.extend({
  baseUrl: baseUrlSchema.optional(),
  endpoint: z.string().min(1).optional(),
});
export type DeployedConnection = Omit<ConnectionRef, 'baseUrl'> & { baseUrl?: string; endpoint?: string };

/**
 * Which vendor tenant a connection reaches, as a short digest of its type and base URL: the
 * ledger keeps it with every entry, so that two connections of one name (a production and a
 * staging config, or a connection moved to another tenant) never share evidence, and a
 * before-state is only ever written back where it was read. A digest, not the URL: the
 * routing functions and the state never hold where a connection points.
 */
export function endpointOf(connection: { type: string; baseUrl: string }): string {
  return createHash('sha256').update(`${connection.type} ${connection.baseUrl}`).digest('hex').slice(0, 16);
}

/** The endpoint of a connection that knows its base URL, or the one the stack computed for it. */
export function endpointOfDeployed(connection: {
  type: string;
  baseUrl?: string;
  endpoint?: string;
}): string | undefined {
  return (
    connection.endpoint ??
    (connection.baseUrl ? endpointOf({ ...connection, baseUrl: connection.baseUrl }) : undefined)
  );
}

/**
 * The connections this function was deployed with, from `OFFBOARD_CONNECTIONS`. The stack
 * puts the list inside each function's bundle (esbuild `define`), not in an environment
 * variable (4 KB in all), and a connector function gets only its own type's connections:
 * their base URLs, secret ids and TLS settings are the function's own configuration, never
 * something a state payload can choose.
 */
export function connectionsFromEnv(value = process.env.OFFBOARD_CONNECTIONS): DeployedConnection[] {
  let json: unknown;
  try {
    json = JSON.parse(value ?? '[]');
  } catch {
    throw new ConfigError('OFFBOARD_CONNECTIONS is not JSON');
  }
  const parsed = z.array(deployedConnectionSchema).safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      `OFFBOARD_CONNECTIONS is not a valid list of connections: ${describeIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

let deployed: DeployedConnection[] | undefined;

/** `OFFBOARD_CONNECTIONS`, read once per warm Lambda: every handler that resolves connections uses it. */
export function deployedConnections(): DeployedConnection[] {
  deployed ??= connectionsFromEnv();
  return deployed;
}
