// ANSI colours of a job's output (ansible writes them: ANSIBLE_FORCE_COLOR) as the `.ansi-*`
// classes of style.css. SGR codes (ESC [ ... m) become classes; every other escape sequence
// (cursor moves, erase line, OSC titles) is dropped. The parser is pure (no DOM), so it runs
// under node in the tests; `ansiNodes` turns its segments into text nodes and spans, never markup.

// CSI (ESC [ params final), OSC (ESC ] ... BEL or ESC \), or any other two-character escape
const ESCAPE = /\x1b(?:\[([0-9;:?<=>]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]|[ -/]*[0-~]?)/g;
// other control characters worth nothing in a <pre> (a lone CR, backspace, bell); tabs and newlines stay
const CONTROL = /[\x00-\x08\x0b\x0c\x0d\x0e-\x1a\x1c-\x1f\x7f]/g;

/** the state SGR codes build up: a fresh one is "no attributes" */
export function initialState() {
  return { bold: false, dim: false, italic: false, underline: false, fg: null, bg: null };
}

/** apply one SGR parameter list ("0;32", "1", "" = reset) to `state` (changed in place) */
export function applySgr(state, params) {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    if (code === 0) Object.assign(state, initialState());
    else if (code === 1) state.bold = true;
    else if (code === 2) state.dim = true;
    else if (code === 3) state.italic = true;
    else if (code === 4) state.underline = true;
    else if (code === 22) state.bold = state.dim = false;
    else if (code === 23) state.italic = false;
    else if (code === 24) state.underline = false;
    else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) state.fg = code;
    else if (code === 39) state.fg = null;
    else if ((code >= 40 && code <= 47) || (code >= 100 && code <= 107)) state.bg = code;
    else if (code === 49) state.bg = null;
    else if (code === 38 || code === 48) {
      // 256-colour (5;n) and true colour (2;r;g;b): no class for them; skip their arguments
      i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
    }
  }
  return state;
}

/** the classes of a state: ["ansi-bold", "ansi-fg-32"] */
export function classesOf(state) {
  const out = [];
  if (state.bold) out.push("ansi-bold");
  if (state.dim) out.push("ansi-dim");
  if (state.italic) out.push("ansi-italic");
  if (state.underline) out.push("ansi-underline");
  if (state.fg !== null) out.push(`ansi-fg-${state.fg}`);
  if (state.bg !== null) out.push(`ansi-bg-${state.bg}`);
  return out;
}

/**
 * parse(text, state) -> [{text, classes}]: the text between escapes with the classes in force.
 * `state` (from initialState()) carries over from one call to the next, so a colour set on one
 * line and reset on a later one colours the lines between; it is changed in place.
 */
export function parse(text, state = initialState()) {
  const segments = [];
  let last = 0;
  const push = (chunk) => {
    const clean = chunk.replace(CONTROL, "");
    if (!clean) return;
    const classes = classesOf(state);
    const prev = segments[segments.length - 1];
    if (prev && prev.classes.join(" ") === classes.join(" ")) prev.text += clean;
    else segments.push({ text: clean, classes });
  };
  ESCAPE.lastIndex = 0;
  for (let match = ESCAPE.exec(text); match; match = ESCAPE.exec(text)) {
    push(text.slice(last, match.index));
    if (match[2] === "m" && match[1] !== undefined && !/[?<=>]/.test(match[1])) applySgr(state, match[1]);
    last = ESCAPE.lastIndex;
  }
  push(text.slice(last));
  return segments;
}

/** text with every escape sequence and stray control character removed */
export function strip(text) {
  return parse(text).map((s) => s.text).join("");
}

/** DOM nodes for `text`: plain text nodes, and spans with the classes where a colour is on */
export function ansiNodes(text, state = initialState()) {
  return parse(text, state).map(({ text: chunk, classes }) => {
    if (!classes.length) return document.createTextNode(chunk);
    const span = document.createElement("span");
    span.className = classes.join(" ");
    span.textContent = chunk;
    return span;
  });
}
