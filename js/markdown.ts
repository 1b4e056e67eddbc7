// Markdown for assistant turns: CommonMark + GitHub tables and strikethrough (markdown-it), never
// raw HTML from the model, only http(s)/mailto links, a "Copy code" button on every code block,
// and streaming that re-parses only the block being written.
import MarkdownIt from "markdown-it";
import { highlight } from "./highlight";

// "commonmark" + tables + strikethrough; html: false makes any HTML in the answer plain text.
const md = new MarkdownIt("commonmark", { html: false, linkify: false, typographer: false });
md.enable(["table", "strikethrough"]);

const SAFE_LINK = /^(https?:|mailto:)/i;
// a link whose target is not http(s)/mailto stays text (javascript:, data:, file:, relative)
md.validateLink = (url: string) => SAFE_LINK.test(url.trim());

const escape = md.utils.escapeHtml;

md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
  tokens[idx].attrSet("target", "_blank");
  tokens[idx].attrSet("rel", "noopener noreferrer");
  return self.renderToken(tokens, idx, options);
};

// a wide table scrolls in its own box (a table itself with display: block loses its table role)
md.renderer.rules.table_open = () => '<div class="llmw-table-scroll"><table>\n';
md.renderer.rules.table_close = () => "</table></div>\n";

// An image from the model is not fetched (a model-chosen URL would be requested by the page): it
// becomes a link to the image, named by its alt text.
md.renderer.rules.image = (tokens, idx) => {
  const token = tokens[idx];
  const src = token.attrGet("src") ?? "";
  const alt = token.children?.map((t) => t.content).join("") || src;
  return `<a href="${escape(src)}" target="_blank" rel="noopener noreferrer">${escape(alt)}</a>`;
};

const codeBlock = (code: string, info: string) => {
  const lang = info.trim().split(/\s+/)[0] ?? "";
  const label = lang || "text";
  return (
    `<div class="llmw-code"><div class="llmw-code-head"><span class="llmw-code-lang">${escape(label)}</span>` +
    `<button type="button" class="llmw-button llmw-local llmw-copy-code">Copy code</button></div>` +
    `<pre><code${lang ? ` class="language-${escape(lang)}"` : ""}>${highlight(code, lang)}</code></pre></div>\n`
  );
};
md.renderer.rules.fence = (tokens, idx) => codeBlock(tokens[idx].content, md.utils.unescapeAll(tokens[idx].info));
md.renderer.rules.code_block = (tokens, idx) => codeBlock(tokens[idx].content, "");

// Defence in depth: what markdown-it can produce, and nothing else.
const TAGS = new Set(
  "p br hr em strong s del code pre blockquote ul ol li h1 h2 h3 h4 h5 h6 a table thead tbody tr th td div span button".split(" "),
);
const ATTRS = new Set(["href", "target", "rel", "class", "start", "style", "type", "title"]);

function clean(root: ParentNode): void {
  for (const node of [...root.querySelectorAll("*")]) {
    if (!TAGS.has(node.localName)) {
      node.replaceWith(document.createTextNode(node.textContent ?? ""));
      continue;
    }
    for (const attr of [...node.attributes]) {
      const bad =
        !ATTRS.has(attr.name) ||
        (attr.name === "href" && !SAFE_LINK.test(attr.value.trim())) ||
        (attr.name === "style" && !/^text-align:(left|right|center)$/.test(attr.value));
      if (bad) node.removeAttribute(attr.name);
    }
  }
}

/** `source` rendered as safe DOM nodes. */
export function renderMarkdown(source: string): DocumentFragment {
  const template = document.createElement("template");
  template.innerHTML = md.render(source);
  clean(template.content);
  return template.content;
}

const FENCE = /^\s*(`{3,}|~{3,})(.*)$/;
const TOP_FENCE = /^(`{3,}|~{3,})([^`]*)$/; // a fence in column 0: it always starts a new block

/** Whether `line` closes a fence opened with `marker`. */
function closes(line: string, marker: string): boolean {
  const m = FENCE.exec(line);
  return m !== null && m[1][0] === marker[0] && m[1].length >= marker.length && !m[2].trim();
}

/**
 * Where a streamed text can be cut so that what comes before it never changes: before a line
 * starting in column 0 that follows a blank line outside a code fence, before a fence opened in
 * column 0, and after such a fence's end. Scans from `from` (itself such a place). Returns `from`
 * when there is none yet.
 */
export function stableEnd(text: string, from: number): number {
  let fence = ""; // the open fence's marker, "" outside
  let top = false; // the open fence is in column 0
  let cut = from;
  let blank = false;
  let afterTop = false; // the previous line closed a column-0 fence
  let start = from;
  while (start < text.length) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break; // the last line is still being written
    const line = text.slice(start, nl);
    if (fence) {
      if (closes(line, fence)) {
        afterTop = top;
        fence = "";
      }
      blank = false;
    } else {
      if (afterTop || (blank && line.trim() && !/^\s/.test(line)) || TOP_FENCE.test(line)) cut = start;
      afterTop = false;
      const m = FENCE.exec(line);
      if (m && !(m[1][0] === "`" && m[2].includes("`"))) {
        fence = m[1];
        top = TOP_FENCE.test(line);
      }
      blank = !fence && !line.trim();
    }
    start = nl + 1;
  }
  return cut;
}

/** A parsed fragment of HTML this module made (escaped text and spans). */
function fragment(html: string): DocumentFragment {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

/**
 * A code block being written: its complete lines are added once, coloured, each batch in a block
 * of its own (so the browser lays out only the new lines, not the whole block again); the line
 * being written is plain text.
 */
class OpenCode {
  private added: number; // where the lines not in the code element yet start, in the tail
  private readonly partial = document.createTextNode("");

  constructor(
    code: HTMLElement,
    private readonly lang: string,
    private readonly marker: string,
    bodyStart: number,
  ) {
    this.added = bodyStart;
    const last = document.createElement("span");
    last.className = "llmw-code-lines";
    last.append(this.partial);
    code.replaceChildren(last);
  }

  /** Show the block's new lines; false when one of them closes the fence. */
  update(tail: string): boolean {
    const end = tail.lastIndexOf("\n") + 1;
    if (end > this.added) {
      const lines = tail.slice(this.added, end);
      if (lines.split("\n").some((line) => closes(line, this.marker))) return false;
      const batch = document.createElement("span");
      batch.className = "llmw-code-lines";
      batch.append(fragment(highlight(lines.slice(0, -1), this.lang)), "\n");
      this.partial.parentNode!.parentNode!.insertBefore(batch, this.partial.parentNode);
      this.added = end;
    }
    this.partial.data = tail.slice(this.added);
    return true;
  }
}

/** If `tail` starts with a fence opened in column 0: its marker, language and body start. */
function fenceStart(tail: string): { marker: string; lang: string; body: number } | null {
  const nl = tail.indexOf("\n");
  const m = nl < 0 ? null : TOP_FENCE.exec(tail.slice(0, nl));
  return m ? { marker: m[1], lang: m[2].trim().split(/\s+/)[0] ?? "", body: nl + 1 } : null;
}

/**
 * A Markdown view of a text that grows: the part that can no longer change is rendered once, only
 * the block being written (the tail) is parsed again on each append, and a code block being
 * written only gets its new lines.
 */
export class StreamingMarkdown {
  readonly el: HTMLElement;
  private source = "";
  private stable = 0; // source[0:stable] is rendered in `done`
  private readonly done: HTMLElement;
  private readonly tail: HTMLElement;
  private code: OpenCode | null = null; // the tail is a code block being written

  constructor(el: HTMLElement) {
    this.el = el;
    this.done = document.createElement("div");
    this.tail = document.createElement("div");
    this.done.className = this.tail.className = "llmw-md-part";
    el.replaceChildren(this.done, this.tail);
  }

  get text(): string {
    return this.source;
  }

  append(text: string): void {
    this.source += text;
    const cut = stableEnd(this.source, this.stable);
    if (cut > this.stable) {
      this.done.append(renderMarkdown(this.source.slice(this.stable, cut)));
      this.stable = cut;
      this.code = null;
    }
    const tail = this.source.slice(this.stable);
    if (!this.code) {
      const fence = fenceStart(tail);
      const head = fence ? renderMarkdown(tail.slice(0, fence.body)) : null;
      const code = head?.querySelector("code");
      if (fence && head && code) {
        this.tail.replaceChildren(head);
        this.code = new OpenCode(code, fence.lang, fence.marker, fence.body);
      }
    }
    if (this.code?.update(tail)) return;
    this.code = null;
    this.tail.replaceChildren(renderMarkdown(tail));
  }

  /** The whole text rendered in one piece (what a finished turn shows). */
  finish(): void {
    this.code = null;
    this.el.replaceChildren(renderMarkdown(this.source));
  }
}
