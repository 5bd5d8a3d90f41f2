import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_NAMES } from '../../lambdas/shared/errors';
import { openLocalLedger } from '../../local/ledger';
import { type LocalConnection, runLocally } from '../../local/runner';
import { SCIM_SANDBOX_TOKEN, startScimSandbox } from '../../sandboxes/scim';
import { countCases } from './tally';
import { CONTROL_CHARACTERS, type HostileVendor, JANE, SURFACES, secretForms, startVendor } from './vendors';

/**
 * The hostile suite, faulty vendors: every fault a vendor can throw at a run, on every
 * surface, beside a healthy connection. Whatever the fault, the run ends with a summary, the
 * healthy connection is switched off, the faulty one ends in an outcome that matches the
 * vendor's own state, at most one write is sent, nothing is deleted, and no secret or
 * terminal escape reaches the output or the ledger.
 */

interface Fault {
  name: string;
  /** Only for surfaces the API switches off (a write to fault). */
  writes?: boolean;
  arrange(vendor: HostileVendor): void;
  outcome: 'deactivated' | 'failed';
  error?: string;
}

const many = 1000;
const FAULTS: Fault[] = [
  {
    name: '401 on every request',
    arrange: (v) => v.box.addFault({ status: 401, times: many }),
    outcome: 'failed',
    error: ERROR_NAMES.authFailed,
  },
  {
    name: '403 on the lookup',
    arrange: (v) =>
      v.box.addFault({ method: v.readMethod ?? 'GET', path: v.listPath, status: 403, times: many }),
    outcome: 'failed',
    error: ERROR_NAMES.authFailed,
  },
  {
    name: '500 on every read of the account',
    arrange: (v) =>
      v.box.addFault({ method: v.readMethod ?? 'GET', path: v.readPath, status: 500, times: many }),
    outcome: 'failed',
    error: ERROR_NAMES.unavailable,
  },
  {
    name: 'malformed JSON from the lookup',
    arrange: (v) =>
      v.box.addFault({
        method: v.readMethod ?? 'GET',
        path: v.listPath,
        status: 200,
        times: many,
        body: '{"oops',
      }),
    outcome: 'failed',
    error: ERROR_NAMES.badResponse,
  },
  {
    name: 'an HTML page instead of JSON',
    arrange: (v) =>
      v.box.addFault({
        method: v.readMethod ?? 'GET',
        path: v.listPath,
        status: 200,
        times: many,
        body: '<html><body>Login</body></html>',
      }),
    outcome: 'failed',
    error: ERROR_NAMES.badResponse,
  },
  {
    name: 'JSON null for the account',
    arrange: (v) =>
      v.box.addFault({
        method: v.readMethod ?? 'GET',
        path: v.readPath,
        status: 200,
        times: many,
        body: 'null',
      }),
    outcome: 'failed',
    error: ERROR_NAMES.badResponse,
  },
  {
    name: 'an empty 200 for the lookup',
    arrange: (v) =>
      v.box.addFault({ method: v.readMethod ?? 'GET', path: v.listPath, status: 200, times: many, body: '' }),
    outcome: 'failed',
    error: ERROR_NAMES.badResponse,
  },
  {
    name: 'an error body that echoes the credential and carries terminal escapes',
    arrange: (v) => {
      const echoed = secretForms(v.secrets).join(' ');
      const text = `bad credential ${echoed} \u001b[2J\u001b[31mYOU ARE HACKED\u202e`;
      v.box.addFault({
        status: 401,
        times: many,
        body: JSON.stringify({ message: text, Message: text, detail: text }),
      });
    },
    outcome: 'failed',
    error: ERROR_NAMES.authFailed,
  },
  {
    name: 'the account gone (404) after the lookup found it',
    arrange: (v) =>
      v.box.addFault({ method: v.readMethod ?? 'GET', path: v.readPath, status: 404, times: many }),
    outcome: 'failed',
    error: ERROR_NAMES.badRequest,
  },
  {
    name: 'a 429 with Retry-After: 1 on the lookup',
    arrange: (v) =>
      v.box.addFault({
        method: v.readMethod ?? 'GET',
        path: v.listPath,
        status: 429,
        times: 1,
        headers: { 'Retry-After': '1' },
      }),
    outcome: 'deactivated',
  },
  {
    name: 'a 503 once on the write',
    writes: true,
    arrange: (v) => v.box.addFault({ method: v.write?.method, path: v.write?.path, status: 503, times: 1 }),
    outcome: 'deactivated',
  },
  {
    name: 'the write applied, its answer lost (connection dropped)',
    writes: true,
    arrange: (v) =>
      v.box.loseAnswers({ method: v.write?.method, path: v.write?.path, mode: 'drop', times: 1 }),
    outcome: 'deactivated',
  },
  {
    name: 'the write acknowledged but never applied',
    writes: true,
    arrange: (v) =>
      v.box.addFault({
        method: v.write?.method,
        path: v.write?.path,
        status: v.write?.ack?.status ?? 204,
        times: 1,
        body: v.write?.ack?.body ?? '',
      }),
    outcome: 'failed',
    error: ERROR_NAMES.notYetApplied,
  },
  {
    name: '500 on every write',
    writes: true,
    arrange: (v) =>
      v.box.addFault({ method: v.write?.method, path: v.write?.path, status: 500, times: many }),
    outcome: 'failed',
    error: ERROR_NAMES.unavailable,
  },
];

const cases = SURFACES.flatMap((surface) =>
  FAULTS.filter((fault) => !fault.writes || surface !== 'rapid7-platform').map(
    (fault) => [surface, fault.name, fault] as const,
  ),
);

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});
countCases(`faulty-vendor cases (${FAULTS.length} faults × ${SURFACES.length} surfaces)`);

describe('hostile suite: faulty vendors', () => {
  it.each(cases)('%s: %s', async (surface, _name, fault) => {
    // Prepare: the faulty vendor, and a healthy one beside it.
    const vendor = await startVendor(surface);
    const healthy = await startScimSandbox();
    const local = await openLocalLedger(null);
    opened.push(vendor, healthy, local);
    const companion: LocalConnection = {
      ref: { name: 'companion', type: 'scim', baseUrl: healthy.baseUrl },
      secret: { token: SCIM_SANDBOX_TOKEN },
    };
    fault.arrange(vendor);

    // Act
    const result = await runLocally({
      connections: [vendor.connection, companion],
      input: { email: JANE },
      ledger: local.ledger,
      retryPauseMs: 0,
      ...(vendor.askPerson ? { askPerson: vendor.askPerson } : {}),
    });

    // Assess: a summary, whatever happened.
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const [faulty, other] = result.summary.connections;
    // A vendor error on one connection never stops the others.
    expect(other).toMatchObject({ name: 'companion', outcome: 'deactivated' });
    // The outcome says what the vendor's own store says.
    expect(faulty?.outcome).toBe(fault.outcome);
    if (fault.error) expect(faulty?.error?.name).toBe(fault.error);
    expect(vendor.janeIsOff()).toBe(fault.outcome === 'deactivated');
    // Never deleted, never written twice.
    expect(vendor.box.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
    if (vendor.write) {
      const applied = vendor.box.requests.filter(
        (r) => r.method === vendor.write?.method && vendor.write.path.test(r.path) && r.status < 300,
      );
      expect(applied.length).toBeLessThanOrEqual(1);
    }
    // No secret and no terminal escape in the output or the ledger.
    const output = JSON.stringify(result.summary);
    const evidence = JSON.stringify(await local.ledger.history(JANE));
    for (const form of secretForms(vendor.secrets)) {
      expect(output).not.toContain(form);
      expect(evidence).not.toContain(form);
    }
    for (const c of result.summary.connections)
      expect(c.error?.message ?? '').not.toMatch(CONTROL_CHARACTERS);
  });
});
