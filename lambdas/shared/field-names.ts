/**
 * Near misses of the fields offboard reads. A field it does not read is ignored (an HR
 * system's own fields, a spreadsheet's other columns), but one that reads like a field it
 * does read (`dry_run`, `effectiveDate`, `connection`) was meant as that field: ignored, it
 * would turn a dry run into a real one, or next month's termination into today's. Such a
 * field is refused, naming the one meant.
 */

/** The fields a request, an HR event's detail, or a person in a list may carry. */
const FIELDS = ['email', 'employeeId', 'effectiveAt', 'reason', 'dryRun', 'connections', 'reactivate'];

/** A field's name without case or separators: `dry_run`, `DryRun` and `dry-run` read alike. */
const squashed = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

const MEANT = new Map<string, string>([
  ...FIELDS.map((name) => [squashed(name), name] as const),
  ['effectivedate', 'effectiveAt'],
  ['effectiveon', 'effectiveAt'],
  ['connection', 'connections'],
]);

/** The field offboard reads that `name` reads like (itself, when it is one), or undefined. */
export function meantField(name: string): string | undefined {
  return MEANT.get(squashed(name));
}
