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
