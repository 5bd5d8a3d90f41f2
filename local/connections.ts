import type { ConfigFile } from '../lib/config';
import { ConfigFileError } from '../lib/config';
import { type InsightlySandbox, SAMPLE_USERS, startInsightlySandbox } from '../sandboxes/insightly';
import type { LocalConnection } from './runner';

/** The API key the built-in sandboxes accept when a config gives none. */
export const SANDBOX_API_KEY = 'sandbox-api-key';

/** Connections ready for a local run, and the sandboxes started for them (to close after). */
export interface PreparedConnections {
  connections: LocalConnection[];
  sandboxes: Array<{ name: string; baseUrl: string; sandbox: InsightlySandbox }>;
  close(): Promise<void>;
}

/**
 * Turns a config file into local connections. A connection without `baseUrl` gets a
 * built-in sandbox on 127.0.0.1, seeded with sample users; one with a `baseUrl` is real and
 * must carry its secret (`secret` or `secretFile`): `secretId` is only for deployed runs.
 */
export async function prepareConnections(config: ConfigFile): Promise<PreparedConnections> {
  const missing = config.connections.filter((c) => c.baseUrl && !c.secret);
  if (missing.length > 0) {
    throw new ConfigFileError(
      `connection(s) ${missing.map((c) => `'${c.name}'`).join(', ')}: a local run needs "secret" or "secretFile" ` +
        '("secretId" names a Secrets Manager secret, read only when deployed)',
    );
  }
  const sandboxes: PreparedConnections['sandboxes'] = [];
  const close = async () => {
    await Promise.all(sandboxes.map((s) => s.sandbox.close()));
  };
  try {
    const connections: LocalConnection[] = [];
    for (const c of config.connections) {
      let baseUrl = c.baseUrl;
      let secret: unknown = c.secret;
      if (!baseUrl) {
        const apiKey = typeof c.secret?.apiKey === 'string' ? c.secret.apiKey : SANDBOX_API_KEY;
        const owner = SAMPLE_USERS[0]?.USER_ID ?? 1001;
        const sandbox = await startInsightlySandbox({ users: SAMPLE_USERS, apiKeys: { [apiKey]: owner } });
        sandboxes.push({ name: c.name, baseUrl: sandbox.baseUrl, sandbox });
        baseUrl = sandbox.baseUrl;
        secret ??= { apiKey };
      }
      connections.push({
        ref: { name: c.name, type: c.type, baseUrl, ...(c.tls ? { tls: c.tls } : {}) },
        secret,
      });
    }
    return { connections, sandboxes, close };
  } catch (error) {
    await close();
    throw error;
  }
}
