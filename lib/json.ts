import { type ParseError, parse, printParseErrorCode } from 'jsonc-parser';

/** A JSON text, parsed, or where and why it is not JSON: `line 3, column 7: expected ':' …`. */
export type ParsedJson = { ok: true; value: unknown } | { ok: false; problem: string };

/** What each of jsonc-parser's error codes means, for a person fixing a file. */
const WORDS: Record<string, string> = {
  InvalidSymbol: 'an unexpected character (not the start of a JSON value)',
  InvalidNumberFormat: 'an invalid number',
  PropertyNameExpected: 'expected a property name in double quotes (a trailing comma?)',
  ValueExpected: 'expected a value',
  ColonExpected: "expected ':' after a property name",
  CommaExpected: "expected ',' between two values",
  CloseBraceExpected: "expected '}'",
  CloseBracketExpected: "expected ']'",
  EndOfFileExpected: 'more text after the JSON value',
  InvalidCommentToken: 'a comment (JSON has none)',
  UnexpectedEndOfComment: 'a comment (JSON has none)',
  UnexpectedEndOfString: 'a string not closed on its line (write a line break inside a string as \\n)',
  UnexpectedEndOfNumber: 'an invalid number',
  InvalidUnicode: 'an invalid \\u escape in a string',
  InvalidEscapeCharacter: 'an invalid escape (\\) in a string',
  InvalidCharacter: 'a control character inside a string (escape it)',
};

/**
 * Parses JSON, and never quotes the text in an error: what a config file, a secret file or
 * an event file holds may be a secret, and JSON.parse's messages quote the text around the
 * mistake ("Unexpected token 'a', "apiKey=abc"… is not valid JSON"). The problem names the
 * line and column (from 1) and the kind of mistake, found by jsonc-parser (the parser behind
 * VS Code's JSON support) in strict mode: no comments, no trailing commas.
 */
export function parseJson(text: string): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    if (text.trim() === '') return { ok: false, problem: 'line 1, column 1: empty' };
    const errors: ParseError[] = [];
    parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    if (!first) return { ok: false, problem: 'not valid JSON' };
    const code = printParseErrorCode(first.error);
    const problem =
      first.offset === 0 && text.startsWith('\uFEFF')
        ? 'a byte-order mark (save the file as UTF-8 without one)'
        : first.offset >= text.length
          ? 'unexpected end of the text'
          : (WORDS[code] ?? code);
    const before = text.slice(0, first.offset);
    const line = before.split('\n').length;
    const column = first.offset - (before.lastIndexOf('\n') + 1) + 1;
    return { ok: false, problem: `line ${line}, column ${column}: ${problem}` };
  }
}
