/**
 * Control characters a terminal acts on: C0 (U+0000-U+001F), DEL, C1 (U+0080-U+009F), and
 * the Unicode bidi controls (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) that reorder
 * what is shown around them.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const LINE_BREAKING = /[\t\n\v\f\r]/;

/**
 * Text from outside (a vendor's answer, an id, an error message) made safe to print on a
 * terminal: control characters are removed, so an escape sequence cannot move the cursor,
 * recolour the screen or hide text, and bidi controls cannot reorder a line. Tabs and line
 * breaks become one space each, so a one-line cell stays one line and words stay apart.
 */
export function stripControl(text: string): string {
  return text.replace(CONTROL, (char) => (LINE_BREAKING.test(char) ? ' ' : ''));
}

/** Where a text stops being JSON: a character offset and what is wrong there. */
class JsonSyntax {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {}
}

/**
 * Finds the first place `text` breaks RFC 8259 JSON. JSON.parse says what is wrong, but
 * its message quotes the text around the error ("Unexpected token 'a', "apiKey=abc"... is
 * not valid JSON"), and that text may be a secret; this says where, and what kind of
 * mistake, without quoting anything.
 */
function jsonSyntaxError(text: string): JsonSyntax | undefined {
  let i = 0;
  const fail = (problem: string, at = i): never => {
    throw new JsonSyntax(at, problem);
  };
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text.charAt(i))) i++;
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      const c = text.charAt(i);
      if (i >= text.length) fail('a string is not closed (missing ")', start);
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const next = text.charAt(i + 1);
        if ('"\\/bfnrt'.includes(next) && next !== '') i += 2;
        else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else fail('an invalid escape (\\) in a string');
      } else if (c < ' ') {
        fail('a control character, such as a line break, inside a string (escape it)');
      } else i++;
    }
  };
  const number = () => {
    const match = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    match.lastIndex = i;
    if (!match.exec(text)) fail('an invalid number');
    i = match.lastIndex;
  };
  const members = (close: '}' | ']', member: () => void) => {
    i++;
    skipSpace();
    if (text.charAt(i) === close) {
      i++;
      return;
    }
    for (;;) {
      member();
      skipSpace();
      const c = text.charAt(i);
      if (c === close) {
        i++;
        return;
      }
      if (c !== ',') fail(i >= text.length ? 'unexpected end of the text' : `expected ',' or '${close}'`);
      const comma = i;
      i++;
      skipSpace();
      if (text.charAt(i) === close) fail(`a trailing comma before '${close}'`, comma);
    }
  };
  const objectMember = () => {
    skipSpace();
    if (text.charAt(i) !== '"')
      fail(i >= text.length ? 'unexpected end of the text' : 'expected a property name in double quotes');
    string();
    skipSpace();
    if (text.charAt(i) !== ':') fail("expected ':' after a property name");
    i++;
    value();
  };
  const value = (): void => {
    skipSpace();
    const c = text.charAt(i);
    const word = ['true', 'false', 'null'].find((w) => text.startsWith(w, i));
    if (i >= text.length) fail('unexpected end of the text');
    else if (c === '{') members('}', objectMember);
    else if (c === '[') members(']', value);
    else if (c === '"') string();
    else if (c === '-' || (c >= '0' && c <= '9')) number();
    else if (word) i += word.length;
    else if (c === '\uFEFF' && i === 0) fail('a byte-order mark (save it as UTF-8 without one)');
    else fail('an unexpected character (not the start of a JSON value)');
  };
  try {
    if (text.trim() === '') return new JsonSyntax(0, 'empty');
    value();
    skipSpace();
    if (i < text.length) fail('more text after the JSON value');
    return undefined;
  } catch (error) {
    if (error instanceof JsonSyntax) return error;
    // Too deeply nested to scan: the position is unknown, but nothing is quoted either.
    return new JsonSyntax(-1, 'not valid JSON');
  }
}

/** A JSON text, parsed, or where and why it is not JSON: `line 3, column 7: expected ',' or '}'`. */
export type ParsedJson = { ok: true; value: unknown } | { ok: false; problem: string };

/**
 * Parses JSON without ever quoting the text in an error: what a config file, a secret file
 * or an event file holds may be a secret. The problem names the line and column (from 1)
 * and the kind of mistake.
 */
export function parseJson(text: string): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    const error = jsonSyntaxError(text) ?? new JsonSyntax(-1, 'not valid JSON');
    if (error.offset < 0) return { ok: false, problem: error.problem };
    const before = text.slice(0, error.offset);
    const line = before.split('\n').length;
    const column = error.offset - (before.lastIndexOf('\n') + 1) + 1;
    return { ok: false, problem: `line ${line}, column ${column}: ${error.problem}` };
  }
}
