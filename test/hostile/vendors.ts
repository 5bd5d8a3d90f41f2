/**
 * The vendors of the hostile suite: each surface's sandbox, with what a story needs to know
 * about it (where Jane is read and written, whether she is off now), so that one story runs
 * against every surface.
 */
import type { ConnectionType } from '../../lambdas/shared/connections';
import type { LocalConnection } from '../../local/runner';
import type { PersonTask, PersonTaskResult } from '../../local/tasks';
import {
  GAINSIGHT_SANDBOX_ACCESS_KEY,
  type GainsightSandbox,
  JANE_GSID,
  startGainsightSandbox,
} from '../../sandboxes/gainsight';
import { type InsightlySandbox, startInsightlySandbox } from '../../sandboxes/insightly';
import type { SandboxControls, SandboxFault, SandboxRequestRecord } from '../../sandboxes/kit';
import {
  type InsightvmSandbox,
  RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
  RAPID7_INSIGHTVM_SANDBOX_USERNAME,
  startRapid7InsightvmSandbox,
} from '../../sandboxes/rapid7-insightvm';
import {
  RAPID7_PLATFORM_SANDBOX_KEY,
  type Rapid7PlatformSandbox,
  startRapid7PlatformSandbox,
} from '../../sandboxes/rapid7-platform';
import { SCIM_SANDBOX_TOKEN, type ScimSandbox, startScimSandbox } from '../../sandboxes/scim';

export const JANE = 'jane.doe@example.com';

/** A vendor sandbox as a hostile story drives it. */
export interface HostileVendor {
  type: ConnectionType;
  connection: LocalConnection;
  /** The secret's strings: none of them may ever reach output, logs or the ledger. */
  secrets: string[];
  box: SandboxControls<SandboxFault, SandboxRequestRecord>;
  /** Jane's user id on this surface. */
  janeId: string;
  /** Requests that read Jane's record, and the list (lookup) requests, and their method. */
  readPath: RegExp;
  listPath: RegExp;
  /** GET, unless the vendor reads with another (Gainsight lists users with a POST). */
  readMethod?: string;
  /**
   * How the vendor is asked to switch an account off, and how it says "done" (status and
   * body) when it acknowledges a write; undefined where a person does it.
   */
  write?: { method: string; path: RegExp; ack?: { status: number; body: string } };
  /** Whether Jane's account is off now, in the vendor's own store. */
  janeIsOff(): boolean;
  /** For surfaces a person switches off: what that person does. */
  askPerson?: (task: PersonTask) => Promise<PersonTaskResult>;
  close(): Promise<void>;
}

/** Starts one surface's sandbox, seeded with its sample users (Jane among them). */
export async function startVendor(
  type: 'insightly' | 'scim' | 'rapid7-insightvm' | 'rapid7-platform' | 'gainsight',
) {
  switch (type) {
    case 'gainsight': {
      const box: GainsightSandbox = await startGainsightSandbox();
      return vendor(type, box, {
        connection: {
          ref: { name: 'cs', type, baseUrl: box.baseUrl },
          secret: { accessKey: GAINSIGHT_SANDBOX_ACCESS_KEY },
        },
        secrets: [GAINSIGHT_SANDBOX_ACCESS_KEY],
        janeId: JANE_GSID,
        // Gainsight reads one user, and looks users up, through the same list call.
        readPath: /\/v1\/users\/services\/list$/,
        listPath: /\/v1\/users\/services\/list$/,
        readMethod: 'POST',
        write: {
          method: 'PUT',
          path: /\/v1\/users\/services\/status$/,
          ack: {
            status: 200,
            body: JSON.stringify({
              result: true,
              errorCode: null,
              errorDesc: null,
              requestId: 'ack',
              data: { count: 1, records: [{ Gsid: JANE_GSID, IsActiveUser: false }], errors: [] },
              message: null,
            }),
          },
        },
        janeIsOff: () => box.users.get(JANE_GSID)?.IsActiveUser === false,
      });
    }
    case 'insightly': {
      const box: InsightlySandbox = await startInsightlySandbox();
      return vendor(type, box, {
        connection: {
          ref: { name: 'crm', type, baseUrl: box.baseUrl },
          secret: { apiKey: 'sandbox-api-key' },
        },
        secrets: ['sandbox-api-key'],
        janeId: '1002',
        readPath: /\/Users\/1002$/,
        // The search, or the plain list it falls back to.
        listPath: /\/Users(\/Search)?$/,
        write: { method: 'PUT', path: /\/Users$/ },
        janeIsOff: () => box.users.get(1002)?.ACTIVE === false,
      });
    }
    case 'scim': {
      const box: ScimSandbox = await startScimSandbox();
      return vendor(type, box, {
        connection: {
          ref: { name: 'app', type, baseUrl: box.baseUrl },
          secret: { token: SCIM_SANDBOX_TOKEN },
        },
        secrets: [SCIM_SANDBOX_TOKEN],
        janeId: 'u1002',
        readPath: /\/Users\/u1002$/,
        listPath: /\/Users$/,
        write: { method: 'PATCH', path: /\/Users\/u1002$/ },
        janeIsOff: () => box.users.get('u1002')?.active === false,
      });
    }
    case 'rapid7-insightvm': {
      const box: InsightvmSandbox = await startRapid7InsightvmSandbox({
        credentials: { [RAPID7_INSIGHTVM_SANDBOX_USERNAME]: RAPID7_INSIGHTVM_SANDBOX_PASSWORD },
      });
      return vendor(type, box, {
        connection: {
          ref: {
            name: 'console',
            type,
            baseUrl: box.baseUrl,
            ...(box.caCert ? { tls: { caCert: box.caCert } } : {}),
          },
          secret: {
            username: RAPID7_INSIGHTVM_SANDBOX_USERNAME,
            password: RAPID7_INSIGHTVM_SANDBOX_PASSWORD,
          },
        },
        secrets: [RAPID7_INSIGHTVM_SANDBOX_PASSWORD],
        janeId: '3',
        readPath: /\/users\/3$/,
        listPath: /\/users$/,
        write: { method: 'PUT', path: /\/users\/3$/ },
        janeIsOff: () => box.users.get(3)?.enabled === false,
      });
    }
    case 'rapid7-platform': {
      const box: Rapid7PlatformSandbox = await startRapid7PlatformSandbox();
      const id = '5c0e7a4e-1b1d-4a55-9a57-0a1d2c3e4f02';
      return vendor(type, box, {
        connection: {
          ref: { name: 'cloud', type, baseUrl: box.baseUrl },
          secret: { apiKey: RAPID7_PLATFORM_SANDBOX_KEY },
        },
        secrets: [RAPID7_PLATFORM_SANDBOX_KEY],
        janeId: id,
        readPath: new RegExp(`/users/${id}$`),
        listPath: /\/users$/,
        janeIsOff: () => box.users.get(id)?.status === 'DISABLED',
        askPerson: async (task) =>
          box.disableUser(task.email) ? { ok: true } : { ok: false, reason: 'no such account' },
      });
    }
  }
}

function vendor(
  type: ConnectionType,
  box: SandboxControls<never, SandboxRequestRecord>,
  rest: Omit<HostileVendor, 'type' | 'box' | 'close'>,
): HostileVendor {
  return {
    type,
    box: box as unknown as HostileVendor['box'],
    close: () => box.close(),
    ...rest,
  };
}

/** Every surface the suite runs against (the SCIM presets are the same connector as `scim`). */
export const SURFACES = ['insightly', 'scim', 'rapid7-insightvm', 'rapid7-platform', 'gainsight'] as const;

/** Strings that must never appear: each secret, and the forms it travels in. */
export function secretForms(secrets: readonly string[]): string[] {
  return secrets.flatMap((s) => [
    s,
    Buffer.from(s).toString('base64'),
    Buffer.from(`${s}:`).toString('base64'),
  ]);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
export const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
