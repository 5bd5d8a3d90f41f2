import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../lambdas/shared/errors';
import { parsePeople } from '../../../lambdas/shared/people';

/**
 * The lists of people a bulk run offboards, as HR exports them: spreadsheets saved as CSV
 * (quoted names with commas, a byte order mark, Windows line ends), plain lists of
 * addresses, and JSON. Whoever reads the list wrong switches off the wrong person, so a
 * list that cannot be read exactly is refused whole, naming the line to fix.
 */

/** The error a list is refused with; fails the test when the list is accepted. */
function refusal(text: string, source = 'leavers.csv'): InvalidInputError {
  try {
    parsePeople(text, source);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected the list to be refused, but it was accepted');
}

describe('a CSV list', () => {
  it('takes the email column, not a column a quoted comma shifts into its place', () => {
    // Prepare: Jane's name holds a comma; her manager Bob is in the column before hers
    const csv = 'name,manager,email\n"Doe, Jane",bob.smith@example.com,jane.doe@example.com\n';
    // Act
    const people = parsePeople(csv, 'leavers.csv');
    // Assess: Jane leaves, Bob stays
    expect(people).toEqual(['jane.doe@example.com']);
  });

  it('reads a spreadsheet export: byte order mark, Windows line ends, blank lines, doubled quotes', () => {
    // Prepare: what Excel's "CSV UTF-8" writes, with a blank line someone left in
    const csv =
      '\uFEFFName,Title,Email\r\n' +
      '"Doe, Jane","Head of ""Sales""",jane.doe@example.com\r\n' +
      '\r\n' +
      '"Lee, Marcus",Engineer,  marcus.lee@example.com  \r\n';
    // Act
    const people = parsePeople(csv, 'leavers.csv');
    // Assess
    expect(people).toEqual(['jane.doe@example.com', 'marcus.lee@example.com']);
  });

  it('finds the email column by a quoted header, whatever its case, even when a header holds a comma', () => {
    // Prepare
    const csv =
      '"Name, as in HR"," EMAIL "\n"Doe, Jane","jane.doe@example.com"\nLee,marcus.lee@example.com\n';
    // Act
    const people = parsePeople(csv, 'leavers.csv');
    // Assess
    expect(people).toEqual(['jane.doe@example.com', 'marcus.lee@example.com']);
  });

  it('refuses the whole list when a row does not parse, naming its line in the file', () => {
    // Prepare: line 4 opens a quote it never closes (the header is line 1, line 3 is blank)
    const csv =
      'name,email\nDoe,jane.doe@example.com\n\n"Smith,bob.smith@example.com\nLee,marcus.lee@example.com\n';
    // Act
    const error = refusal(csv);
    // Assess
    expect(error.name).toBe('Input.Invalid');
    expect(error.message).toBe(
      'leavers.csv: line 4 is not valid CSV, nobody was offboarded: a quoted field starts on it and is never closed',
    );
  });

  it('refuses the whole list when a row has more columns than the header', () => {
    // Prepare: an unquoted "Smith, Bob" makes line 3 three fields long
    const csv = 'name,email\nDoe,jane.doe@example.com\nSmith, Bob,bob.smith@example.com\n';
    // Act
    const error = refusal(csv);
    // Assess
    expect(error.message).toBe(
      'leavers.csv: line 3 is not valid CSV, nobody was offboarded: 3 fields where the header on line 1 has 2',
    );
  });

  it('refuses a quote in the middle of an unquoted field', () => {
    const error = refusal('name,email\nJane "JD" Doe,jane.doe@example.com\n');
    expect(error.message).toMatch(/^leavers\.csv: line 2 is not valid CSV, nobody was offboarded: a quote/);
  });

  it('counts lines as an editor does, after a quoted field that spans lines', () => {
    // Prepare: the note on line 2 runs onto line 3; line 4 has a typo
    const csv =
      'email,note\njane.doe@example.com,"leaves Friday,\r\nreturns the laptop"\nmarcus.lee@example,\n';
    // Act
    const error = refusal(csv);
    // Assess
    expect(error.message).toBe(
      'leavers.csv: 1 invalid entry, nobody was offboarded: line 4: "marcus.lee@example" is not a valid email address',
    );
  });

  it('names each invalid address by its line, counting the header', () => {
    // Prepare: line 3 and 5 are not addresses
    const csv = 'name,email\nDoe,jane.doe@example.com\nSmith,bob.smith@\n\nLee,marcus.lee\n';
    // Act
    const error = refusal(csv);
    // Assess
    expect(error.message).toBe(
      'leavers.csv: 2 invalid entries, nobody was offboarded: line 3: "bob.smith@" is not a valid email address; line 5: "marcus.lee" is not a valid email address',
    );
  });

  it('lists the first ten invalid addresses and counts the rest', () => {
    const rows = Array.from({ length: 12 }, (_, i) => `person ${i},not-an-address-${i}`);
    const error = refusal(['name,email', ...rows].join('\n'));
    expect(error.message).toMatch(
      /^leavers\.csv: 12 invalid entries, nobody was offboarded: line 2: .*line 11: /,
    );
    expect(error.message).not.toContain('line 12:');
    expect(error.message).toMatch(/; and 2 more$/);
  });

  it('needs exactly one email column', () => {
    expect(refusal('name,mail\nDoe,jane.doe@example.com\n').message).toBe(
      'leavers.csv: a CSV needs an "email" column (header on line 1: name,mail)',
    );
    // Two email columns (the leaver's and the manager's): a guess could switch off the manager.
    expect(refusal('email,Email\njane.doe@example.com,bob.smith@example.com\n').message).toContain(
      'more than one "email" column',
    );
  });

  it('skips rows of empty cells, as spreadsheets add at the end', () => {
    const people = parsePeople('name,email\nDoe,jane.doe@example.com\n,\n , \n', 'leavers.csv');
    expect(people).toEqual(['jane.doe@example.com']);
  });

  it('refuses an empty list: an empty file, a byte order mark alone, a header alone', () => {
    for (const text of ['', '\uFEFF\r\n', 'name,email\r\n', 'Email\r\n\r\n']) {
      expect(refusal(text).message).toBe('leavers.csv: no email addresses in it');
    }
  });

  it('offboards the same person once, however their address is written', () => {
    const csv =
      'name,email\nDoe,jane.doe@example.com\n"Doe, Jane", JANE.DOE@example.com\nLee,marcus.lee@example.com\n';
    expect(parsePeople(csv, 'leavers.csv')).toEqual(['jane.doe@example.com', 'marcus.lee@example.com']);
  });
});

describe('a list of one address a line', () => {
  it('skips blank lines and # comments, and names bad lines by their line in the file', () => {
    // Prepare: a comment (with a comma) and a blank line before the first address
    const text =
      '# leavers, November\n\njane.doe@example.com\n# Marcus asked to stay until Friday\nmarcus.lee@example\n';
    // Act
    const error = refusal(text, 'leavers.txt');
    // Assess
    expect(error.message).toBe(
      'leavers.txt: 1 invalid entry, nobody was offboarded: line 5: "marcus.lee@example" is not a valid email address',
    );
  });

  it('reads a lone "email" header as CSV, and a first line that is an address as the list', () => {
    expect(parsePeople('Email\r\njane.doe@example.com\r\n')).toEqual(['jane.doe@example.com']);
    expect(parsePeople('\uFEFFjane.doe@example.com\r\nmarcus.lee@example.com\r\n')).toEqual([
      'jane.doe@example.com',
      'marcus.lee@example.com',
    ]);
  });
});

describe('a JSON list', () => {
  it('may hold addresses or {email} objects, named by item when bad', () => {
    expect(parsePeople('["jane.doe@example.com", {"email": "marcus.lee@example.com"}]')).toEqual([
      'jane.doe@example.com',
      'marcus.lee@example.com',
    ]);
    expect(refusal('[{"email": "jane.doe@example.com"}, {"mail": "x"}]', 'list.json').message).toMatch(
      /^list\.json: 1 invalid entry, nobody was offboarded: item 2: /,
    );
  });

  it('refuses an entry carrying a field that reads like an option of the run, or a second email', () => {
    // Each would be ignored: the person marked for a dry run, or for next month, switched off now.
    const cases: Array<[string, string]> = [
      ['{"email": "jane.doe@example.com", "dryRun": true}', '"dryRun" is not read per person'],
      ['{"email": "jane.doe@example.com", "connections": ["crm"]}', '"connections" is not read per person'],
      [
        '{"email": "jane.doe@example.com", "effective_date": "2027-01-01"}',
        '"effective_date" is not read: a bulk run offboards everyone now',
      ],
      ['{"email": "jane.doe@example.com", "Email": "bob.smith@example.com"}', '"Email" beside "email"'],
    ];
    for (const [item, message] of cases) {
      expect(refusal(`["marcus.lee@example.com", ${item}]`, 'list.json').message).toContain(
        `item 2: ${message}`,
      );
    }
    // A field that is only ignored (a name, a department, the HR system's id) is fine.
    expect(
      parsePeople(
        '[{"email": "jane.doe@example.com", "name": "Jane", "employeeId": "E-1", "department": "Sales"}]',
      ),
    ).toEqual(['jane.doe@example.com']);
  });

  it('refuses a CSV column that reads like an option of the run', () => {
    expect(refusal('email,Dry Run\njane.doe@example.com,yes\n').message).toBe(
      'leavers.csv: the header on line 1: column "dry run" is not read per person: a bulk run\'s dryRun and connections apply to the whole list; remove it',
    );
    expect(refusal('name,email,Effective Date\nJane,jane.doe@example.com,2027-01-01\n').message).toContain(
      'column "effective date" is not read: a bulk run offboards everyone now',
    );
  });
});
