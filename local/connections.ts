import type { ConnectionType, TlsOptions } from '../lambdas/shared/connections';
import { sameEmail } from '../lambdas/shared/http';
import { effectiveRateLimit } from '../lambdas/shared/pacing';
import type { ConfigFile } from '../lib/config';
import { ConfigFileError } from '../lib/config';
import { GAINSIGHT_SANDBOX_ACCESS_KEY, startGainsightSandbox } from '../sandboxes/gainsight';
import { SAMPLE_USERS, startInsightlySandbox } from '../sandboxes/insightly';
import {
  SAMPLE_USERS as INSIGHTVM_SAMPLE_USERS,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../sandboxes/rapid7-insightvm';
import { RAPID7_PLATFORM_SANDBOX_KEY, startRapid7PlatformSandbox } from '../sandboxes/rapid7-platform';
import { SAMPLE_USERS as SCIM_SAMPLE_USERS, SCIM_SANDBOX_TOKEN, startScimSandbox } from '../sandboxes/scim';
import type { LocalConnection } from './runner';

/** The API key the built-in Insightly sandbox accepts when a config gives none. */
export const SANDBOX_API_KEY = 'sandbox-api-key';

/** A built-in vendor sandbox, started for a connection that has no `baseUrl`. */
export interface StartedSandbox {
  baseUrl: string;
  /** The secret JSON this sandbox accepts (the config's own, when it gave one). */
  secret: unknown;
  tls?: TlsOptions;
  requests: ReadonlyArray<{ method: string }>;
  close(): Promise<void>;
  /**
   * Does what the person would do in the vendor's own UI (for types the API cannot switch
   * off), so a sandbox run can go all the way. Returns false when there is no such user.
   */
  actAsPerson?(email: string): boolean;
  /** The user's record as the sandbox holds it now, for the demo to show. */
  describeUser?(email: string): unknown;
}

type SandboxStarter = (secret: Record<string, unknown> | undefined) => Promise<StartedSandbox>;

/** How each type's built-in sandbox starts, seeded with sample users. */
export const SANDBOX_STARTERS: Partial<Record<ConnectionType, SandboxStarter>> = {
  insightly: async (secret) => {
    const apiKey = typeof secret?.apiKey === 'string' ? secret.apiKey : SANDBOX_API_KEY;
    const owner = SAMPLE_USERS[0]?.USER_ID ?? 1001;
    // Insightly as its own documents describe it (the swagger dialect: /Users/Search, skip/top).
    const sandbox = await startInsightlySandbox({ users: SAMPLE_USERS, apiKeys: { [apiKey]: owner } });
    return {
      baseUrl: sandbox.baseUrl,
      secret: { apiKey },
      requests: sandbox.requests,
      close: () => sandbox.close(),
      // Where the API refuses user writes, a person deactivates the user in Insightly's own UI.
      actAsPerson: (email) => sandbox.deactivateByHand(email),
      describeUser: (email) =>
        [...sandbox.users.values()].find((u) => u.EMAIL_ADDRESS.toLowerCase() === email.toLowerCase()),
    };
  },
  'rapid7-platform': async (secret) => {
    const apiKey = typeof secret?.apiKey === 'string' ? secret.apiKey : RAPID7_PLATFORM_SANDBOX_KEY;
    const sandbox = await startRapid7PlatformSandbox({ organizationKeys: [apiKey] });
    return {
      baseUrl: sandbox.baseUrl,
      secret: { apiKey },
      requests: sandbox.requests,
      close: () => sandbox.close(),
      actAsPerson: (email) => sandbox.disableUser(email),
    };
  },
  // Insightly and Gainsight document no SCIM /Bulk: their sandboxes offer none.
  'insightly-scim': (secret) => scimSandbox(secret, { bulk: false }),
  // Gainsight's own SCIM base and token path, with OAuth client credentials, as its docs give them.
  'gainsight-scim': (secret) =>
    scimSandbox(secret ?? { clientId: 'sandbox-client', clientSecret: 'sandbox-client-secret' }, {
      pathPrefix: '/v1/users/services/scim',
      tokenPath: '/v1/users/m2m/oauth/token',
      bulk: false,
    }),
  scim: (secret) => scimSandbox(secret, {}),
  'rapid7-insightvm': async (secret) => {
    const username =
      typeof secret?.username === 'string' ? secret.username : RAPID7_INSIGHTVM_SANDBOX_USERNAME;
    const password =
      typeof secret?.password === 'string' ? secret.password : RAPID7_INSIGHTVM_SANDBOX_PASSWORD;
    // The first sample user is the integration's own console account: it signs in with the config's login.
    const users = INSIGHTVM_SAMPLE_USERS.map((u, i) => (i === 0 ? { ...u, login: username } : u));
    const sandbox = await startRapid7InsightvmSandbox({ users, credentials: { [username]: password } });
    return {
      baseUrl: sandbox.baseUrl,
      secret: { username, password },
      // The console's self-signed certificate, trusted the way an operator would: by its PEM.
      ...(sandbox.caCert ? { tls: { caCert: sandbox.caCert } } : {}),
      requests: sandbox.requests,
      close: () => sandbox.close(),
      describeUser: (email) =>
        [...sandbox.users.values()].find((u) => sameEmail(u.email, email) || sameEmail(u.login, email)),
    };
  },
  gainsight: async (secret) => {
    const accessKey = typeof secret?.accessKey === 'string' ? secret.accessKey : GAINSIGHT_SANDBOX_ACCESS_KEY;
    const sandbox = await startGainsightSandbox({ accessKeys: [accessKey] });
    return {
      baseUrl: sandbox.baseUrl,
      secret: { accessKey },
      requests: sandbox.requests,
      close: () => sandbox.close(),
      describeUser: (email) => [...sandbox.users.values()].find((u) => sameEmail(u.Email, email)),
    };
  },
};

/**
 * A SCIM 2.0 sandbox that accepts the config's secret: a static token, or OAuth client
 * credentials (then the token URL is the sandbox's own, whatever the config said).
 */
async function scimSandbox(
  secret: Record<string, unknown> | undefined,
  paths: { pathPrefix?: string; tokenPath?: string; bulk?: boolean },
): Promise<StartedSandbox> {
  const oauth =
    typeof secret?.clientId === 'string' && typeof secret.clientSecret === 'string'
      ? { clientId: secret.clientId, clientSecret: secret.clientSecret }
      : undefined;
  const token = typeof secret?.token === 'string' ? secret.token : SCIM_SANDBOX_TOKEN;
  const sandbox = await startScimSandbox({
    users: SCIM_SAMPLE_USERS,
    auth: oauth
      ? { oauth: { ...oauth, ...(paths.tokenPath ? { tokenPath: paths.tokenPath } : {}) } }
      : { token },
    ...(paths.pathPrefix ? { pathPrefix: paths.pathPrefix } : {}),
    ...(paths.bulk === false ? { bulk: { supported: false } } : {}),
  });
  return {
    baseUrl: sandbox.baseUrl,
    secret: oauth ? { ...oauth, tokenUrl: sandbox.tokenUrl } : { token },
    requests: sandbox.requests,
    close: () => sandbox.close(),
    describeUser: (email) =>
      [...sandbox.users.values()].find(
        (u) => sameEmail(u.userName, email) || (u.emails ?? []).some((e) => sameEmail(e.value, email)),
      ),
  };
}

/** Connections ready for a local run, and the sandboxes started for them (to close after). */
export interface PreparedConnections {
  connections: LocalConnection[];
  sandboxes: Map<string, StartedSandbox>;
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
  const noSandbox = config.connections.filter((c) => !c.baseUrl && !SANDBOX_STARTERS[c.type]);
  if (noSandbox.length > 0) {
    throw new ConfigFileError(
      `connection(s) ${noSandbox.map((c) => `'${c.name}'`).join(', ')}: no built-in sandbox for this type; give a baseUrl`,
    );
  }
  const sandboxes = new Map<string, StartedSandbox>();
  const close = async () => {
    await Promise.all([...sandboxes.values()].map((s) => s.close()));
  };
  try {
    const connections: LocalConnection[] = [];
    for (const c of config.connections) {
      const start = SANDBOX_STARTERS[c.type];
      if (c.baseUrl || !start) {
        // A real vendor: its documented limit unless the config sets one (or false).
        const rateLimit = effectiveRateLimit(c.type, c.rateLimit);
        connections.push({
          ref: {
            name: c.name,
            type: c.type,
            baseUrl: c.baseUrl ?? '',
            ...(c.tls ? { tls: c.tls } : {}),
            ...(rateLimit ? { rateLimit } : {}),
          },
          secret: c.secret,
        });
        continue;
      }
      const sandbox = await start(c.secret);
      sandboxes.set(c.name, sandbox);
      // A sandbox has no limit unless the config gives one (to try pacing against it).
      const rateLimit = c.rateLimit || undefined;
      connections.push({
        ref: {
          name: c.name,
          type: c.type,
          baseUrl: sandbox.baseUrl,
          ...(sandbox.tls ? { tls: sandbox.tls } : {}),
          ...(rateLimit ? { rateLimit } : {}),
        },
        secret: sandbox.secret,
      });
    }
    return { connections, sandboxes, close };
  } catch (error) {
    await close();
    throw error;
  }
}
