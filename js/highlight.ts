// Light syntax colouring for code blocks: comments, strings, numbers and keywords of a few common
// languages, one linear regex scan. Unknown languages are only escaped.

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const STRINGS = String.raw`"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'`;
const NUMBER = String.raw`\b\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?\b`;

function language(comment: string, strings: string, keywords: string): RegExp {
  const words = keywords.split(" ").join("|");
  return new RegExp(`(${comment})|(${strings})|\\b(${words})\\b|(${NUMBER})`, "g");
}

const PYTHON = language(
  "#.*",
  String.raw`"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|[rbfu]{0,2}(?:${STRINGS})`,
  "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return self True try while with yield",
);
const C_LIKE = "//.*|/\\*[\\s\\S]*?(?:\\*/|$)";
const JS = language(
  C_LIKE,
  STRINGS + "|`(?:[^`\\\\]|\\\\.)*`",
  "as async await break case catch class const continue default delete do else enum export extends false finally for from function if import in instanceof interface let new null of return static super switch this throw true try type typeof undefined var void while yield",
);
const C = language(
  C_LIKE,
  STRINGS,
  "auto bool break case char class const continue default do double else enum extern false float fn for func go if impl import int let long match mut namespace new nil null package pub return self short signed sizeof static struct switch this true type typedef union unsigned use var void while",
);
const SHELL = language("#.*", STRINGS, "case do done elif else esac export fi for function if in local return then until while");
const JSON_ = language("(?!)", STRINGS, "true false null");

const LANGUAGES: Record<string, RegExp> = {
  python: PYTHON, py: PYTHON, python3: PYTHON, ipython: PYTHON,
  javascript: JS, js: JS, typescript: JS, ts: JS, jsx: JS, tsx: JS,
  c: C, cpp: C, "c++": C, h: C, java: C, go: C, rust: C, rs: C, csharp: C, cs: C, kotlin: C, swift: C,
  bash: SHELL, sh: SHELL, shell: SHELL, zsh: SHELL, console: SHELL,
  json: JSON_,
};
const CLASSES = ["llmw-hl-comment", "llmw-hl-string", "llmw-hl-keyword", "llmw-hl-number"];

/** `code` as HTML: escaped, with spans for the tokens of `lang` when it is a known language. */
export function highlight(code: string, lang: string): string {
  const pattern = LANGUAGES[lang.toLowerCase()];
  if (!pattern) return escapeHtml(code);
  let out = "";
  let last = 0;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(code); m; m = pattern.exec(code)) {
    if (!m[0]) {
      pattern.lastIndex++;
      continue;
    }
    const kind = [1, 2, 3, 4].find((i) => m![i] !== undefined)! - 1;
    out += escapeHtml(code.slice(last, m.index)) + `<span class="${CLASSES[kind]}">${escapeHtml(m[0])}</span>`;
    last = m.index + m[0].length;
  }
  return out + escapeHtml(code.slice(last));
}
