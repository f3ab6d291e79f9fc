// JSON validation with the line and column of the first error, the same in every browser
// (engines word JSON.parse's errors differently, and some give no position at all). JSON.parse
// does the work when the text is valid; the scanner below only runs to locate an error.

/** {ok: true, value} or {ok: false, message, line, column, offset} (1-based line/column). */
export function checkJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const found = locate(text);
    const offset = found ? found.offset : text.length;
    const message = found ? found.message : String(error.message || error);
    return { ok: false, message, offset, ...lineColumn(text, offset) };
  }
}

export function lineColumn(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return { line, column };
}

class Stop extends Error {
  constructor(message, offset) {
    super(message);
    this.offset = offset;
  }
}

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** The offset and reason of the first syntax error (RFC 8259), or null if there is none. */
function locate(text) {
  let at = 0;
  const fail = (message) => {
    throw new Stop(message, at);
  };
  const describe = () => (at >= text.length ? "end of input" : `'${text[at]}'`);
  const space = () => {
    while (WHITESPACE.has(text[at])) at++;
  };
  const expect = (char, what) => {
    space();
    if (text[at] !== char) fail(`expected ${what}, found ${describe()}`);
    at++;
  };
  const string = () => {
    at++; // the opening quote
    for (;;) {
      const c = text[at];
      if (c === undefined) fail("unterminated string");
      if (c === '"') return void at++;
      if (c < " ") fail("control character in string (escape it)");
      if (c === "\\") {
        at++;
        if (text[at] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) fail("bad \\u escape");
          at += 5;
        } else if (ESCAPES.has(text[at])) at++;
        else fail(`bad escape \\${text[at] ?? ""}`);
      } else at++;
    }
  };
  const value = () => {
    space();
    const c = text[at];
    if (c === "{") return members("}", () => {
      space();
      if (text[at] !== '"') fail(`expected a property name in double quotes, found ${describe()}`);
      string();
      expect(":", "':'");
      value();
    });
    if (c === "[") return members("]", value);
    if (c === '"') return string();
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, at)) return void (at += word.length);
    }
    NUMBER.lastIndex = at;
    if (NUMBER.test(text)) return void (at = NUMBER.lastIndex);
    fail(`unexpected ${describe()}`);
  };
  const members = (close, item) => {
    at++;
    space();
    if (text[at] === close) return void at++;
    for (;;) {
      item();
      space();
      if (text[at] === ",") {
        at++;
        space();
        if (text[at] === close) fail(`trailing comma before '${close}'`);
        continue;
      }
      if (text[at] === close) return void at++;
      fail(`expected ',' or '${close}', found ${describe()}`);
    }
  };
  try {
    value();
    space();
    if (at < text.length) fail(`unexpected ${describe()} after the JSON value`);
    return null;
  } catch (error) {
    if (error instanceof Stop) return { message: error.message, offset: error.offset };
    throw error;
  }
}
