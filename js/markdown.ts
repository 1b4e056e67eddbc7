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

/**
 * Where a streamed text can be cut so that what comes before it never changes: after the last
 * blank line outside a code fence that is followed by a line starting in column 0. Scans from
 * `from` (itself such a place). Returns `from` when there is none yet.
 */
export function stableEnd(text: string, from: number): number {
  let fence = ""; // the open fence's marker, "" outside
  let cut = from;
  let blank = false;
  let start = from;
  while (start < text.length) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break; // the last line is still being written
    const line = text.slice(start, nl);
    if (fence) {
      const m = FENCE.exec(line);
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length && !m[2].trim()) fence = "";
    } else {
      if (blank && line.trim() && !/^\s/.test(line)) cut = start;
      const m = FENCE.exec(line);
      if (m && !(m[1][0] === "`" && m[2].includes("`"))) fence = m[1];
    }
    blank = !fence && !line.trim();
    start = nl + 1;
  }
  return cut;
}

/**
 * A Markdown view of a text that grows: the part that can no longer change is rendered once,
 * and only the block being written (the tail) is parsed again on each append.
 */
export class StreamingMarkdown {
  readonly el: HTMLElement;
  private source = "";
  private stable = 0; // source[0:stable] is rendered in `done`
  private readonly done: HTMLElement;
  private readonly tail: HTMLElement;

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
    }
    this.tail.replaceChildren(renderMarkdown(this.source.slice(this.stable)));
  }

  /** The whole text rendered in one piece (what a finished turn shows). */
  finish(): void {
    this.el.replaceChildren(renderMarkdown(this.source));
  }
}
