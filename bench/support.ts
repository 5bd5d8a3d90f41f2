import type { ConnectionType } from '../lambdas/shared/connections';
import { DOCUMENTED_RATE_LIMITS } from '../lambdas/shared/pacing';
import type { LocalConnection } from '../local/runner';
import type { PersonTask, PersonTaskResult } from '../local/tasks';
import {
  GAINSIGHT_RATE_LIMITS,
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  startGainsightSandbox,
} from '../sandboxes/gainsight';
import { SAMPLE_USERS as INSIGHTLY_SAMPLE_USERS, startInsightlySandbox } from '../sandboxes/insightly';
import {
  SAMPLE_USERS as INSIGHTVM_SAMPLE_USERS,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../sandboxes/rapid7-insightvm';
import { RAPID7_PLATFORM_SANDBOX_KEY, startRapid7PlatformSandbox } from '../sandboxes/rapid7-platform';
import { SAMPLE_USERS as SCIM_SAMPLE_USERS, SCIM_SANDBOX_TOKEN, startScimSandbox } from '../sandboxes/scim';

/** The leaver every built-in sandbox holds, active, and the sample account that is already off. */
export const LEAVER = 'jane.doe@example.com';
export const ALREADY_INACTIVE = 'already.gone@example.com';
/** No sandbox holds this address. */
export const NOBODY = 'nobody.here@example.com';

/** A request as every sandbox records it (the fields the benchmarks read). */
export interface RecordedRequest {
  method: string;
  path: string;
  /** The status the sandbox answered. */
  status?: number;
}

/**
 * The rate limits a benchmark runs under. `documented`: each sandbox enforces its vendor's
 * documented limit (Insightly 10 a second; Gainsight, REST and SCIM, 100 an hour and 1,000 a
 * day in fixed windows) and each connection is paced by it (`DOCUMENTED_RATE_LIMITS`), as for
 * the real vendor. `sandbox-defaults`: the sandboxes as their starters leave them, no pacing.
 */
export type BenchLimits = 'sandbox-defaults' | 'documented';

/** A built-in sandbox started by the benchmarks, with a fixed latency, and its local connection. */
export interface BenchSandbox {
  connection: LocalConnection;
  requests: ReadonlyArray<RecordedRequest>;
  /** Path of the OAuth token endpoint, for sandboxes that serve one. */
  tokenPath?: string;
  /** The person's part in the vendor's UI (types the API cannot switch off). */
  actAsPerson?(email: string): boolean;
  close(): Promise<void>;
}

/**
 * Starts `type`'s built-in sandbox the way `SANDBOX_STARTERS` (local/connections.ts) does,
 * same sample users and credentials, plus a fixed `latencyMs` before every answer (the
 * starters there take no options, so this mirrors them with the sandboxes' public options).
 */
export async function startBenchSandbox(
  name: string,
  type: ConnectionType,
  latencyMs: number,
  limits: BenchLimits = 'sandbox-defaults',
): Promise<BenchSandbox> {
  const documented = limits === 'documented';
  const rateLimit = documented ? DOCUMENTED_RATE_LIMITS[type] : undefined;
  const ref = (baseUrl: string) => ({ name, type, baseUrl, ...(rateLimit ? { rateLimit } : {}) });
  switch (type) {
    case 'insightly': {
      const apiKey = 'bench-api-key';
      const owner = INSIGHTLY_SAMPLE_USERS[0]?.USER_ID ?? 1001;
      const s = await startInsightlySandbox({
        users: INSIGHTLY_SAMPLE_USERS,
        apiKeys: { [apiKey]: owner },
        latencyMs,
        ...(documented ? { ratePerSecond: 10 } : {}),
      });
      return {
        connection: { ref: ref(s.baseUrl), secret: { apiKey } },
        requests: s.requests,
        close: () => s.close(),
      };
    }
    case 'rapid7-insightvm': {
      const username = RAPID7_INSIGHTVM_SANDBOX_USERNAME;
      const password = RAPID7_INSIGHTVM_SANDBOX_PASSWORD;
      const users = INSIGHTVM_SAMPLE_USERS.map((u, i) => (i === 0 ? { ...u, login: username } : u));
      const s = await startRapid7InsightvmSandbox({
        users,
        credentials: { [username]: password },
        latencyMs,
      });
      return {
        connection: {
          ref: { ...ref(s.baseUrl), ...(s.caCert ? { tls: { caCert: s.caCert } } : {}) },
          secret: { username, password },
        },
        requests: s.requests,
        close: () => s.close(),
      };
    }
    case 'rapid7-platform': {
      const apiKey = RAPID7_PLATFORM_SANDBOX_KEY;
      const s = await startRapid7PlatformSandbox({ organizationKeys: [apiKey], latencyMs });
      return {
        connection: { ref: ref(s.baseUrl), secret: { apiKey } },
        requests: s.requests,
        actAsPerson: (email) => s.disableUser(email),
        close: () => s.close(),
      };
    }
    case 'gainsight': {
      const accessKey = GAINSIGHT_SANDBOX_ACCESS_KEY;
      const s = await startGainsightSandbox({
        accessKeys: [accessKey],
        latencyMs,
        ...(documented ? { rateLimit: GAINSIGHT_RATE_LIMITS } : {}),
      });
      return {
        connection: { ref: ref(s.baseUrl), secret: { accessKey } },
        requests: s.requests,
        close: () => s.close(),
      };
    }
    case 'gainsight-scim': {
      // Gainsight's own SCIM base and token path, with OAuth client credentials (as SANDBOX_STARTERS).
      const oauth = { clientId: 'sandbox-client', clientSecret: 'sandbox-client-secret' };
      const tokenPath = '/v1/users/m2m/oauth/token';
      const s = await startScimSandbox({
        users: SCIM_SAMPLE_USERS,
        auth: { oauth: { ...oauth, tokenPath } },
        pathPrefix: '/v1/users/services/scim',
        // Gainsight documents no SCIM /Bulk.
        bulk: { supported: false },
        latencyMs,
        ...(documented ? { rateLimit: GAINSIGHT_SCIM_WINDOWS } : {}),
      });
      return {
        connection: { ref: ref(s.baseUrl), secret: { ...oauth, tokenUrl: s.tokenUrl } },
        requests: s.requests,
        tokenPath,
        close: () => s.close(),
      };
    }
    case 'insightly-scim':
    case 'scim': {
      const token = SCIM_SANDBOX_TOKEN;
      const s = await startScimSandbox({ users: SCIM_SAMPLE_USERS, auth: { token }, latencyMs });
      return {
        connection: { ref: ref(s.baseUrl), secret: { token } },
        requests: s.requests,
        close: () => s.close(),
      };
    }
  }
}

/** Gainsight's documented windows (its SCIM API is one of its User Management APIs). */
const GAINSIGHT_SCIM_WINDOWS = [
  { requests: 100, windowMs: 3_600_000 },
  { requests: 1000, windowMs: 86_400_000 },
];

/** Starts one sandbox per connection; closes the ones started if any fails. */
export async function startBenchSandboxes(
  connections: ReadonlyArray<{ name: string; type: ConnectionType }>,
  latencyMs: number,
  limits: BenchLimits = 'sandbox-defaults',
): Promise<{ sandboxes: Map<string, BenchSandbox>; close(): Promise<void> }> {
  const sandboxes = new Map<string, BenchSandbox>();
  const close = async () => {
    await Promise.all([...sandboxes.values()].map((s) => s.close()));
  };
  try {
    for (const c of connections) {
      sandboxes.set(c.name, await startBenchSandbox(c.name, c.type, latencyMs, limits));
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { sandboxes, close };
}

/**
 * Plays the person of a person task on a built-in sandbox, at once: switches the account
 * off in the sandbox's "admin view", then answers the task.
 */
export function actingPerson(
  lookup: (connection: string) => { actAsPerson?(email: string): boolean } | undefined,
): (task: PersonTask) => Promise<PersonTaskResult> {
  return async (task) => {
    const done = lookup(task.connection)?.actAsPerson?.(task.email) ?? false;
    return done ? { ok: true } : { ok: false, reason: 'bench: no such account in the sandbox' };
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** `12.3` style: a fixed number of decimals, as a string for the table. */
export function fixed(value: number, decimals = 1): string {
  return value.toFixed(decimals);
}

/** A count by HTTP method: `GET 3, PUT 1`. */
export function byMethod(requests: ReadonlyArray<{ method: string }>): string {
  const counts = new Map<string, number>();
  for (const r of requests) counts.set(r.method, (counts.get(r.method) ?? 0) + 1);
  return [...counts].map(([m, n]) => `${m} ${n}`).join(', ') || '—';
}
