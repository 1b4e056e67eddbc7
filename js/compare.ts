// Compare view: prompts down, models across, each answer as Markdown (streamed while it is
// written) with its figures; a summary row per model; progress, Stop / Resume; in blind mode a
// "Pick A" / "Pick B" ... per cell, Reveal, and the tally once revealed.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { StreamingMarkdown, renderMarkdown } from "./markdown";
import type { CompareCell, CompareState, CompareSummary } from "./protocol";
import { RunView } from "./run_view";
import { type Requests, h, showText } from "./ui";
import "./styles.css";

type Model = AnyModel<CompareState>;

/** One answer in the grid: its Markdown (streamed or whole), its figures, its pick button. */
class AnswerView {
  readonly el: HTMLTableCellElement;
  private readonly body = h("div", { class: "llmw-md llmw-compare-text" });
  private readonly figures = h("div", { class: "llmw-figures llmw-num" });
  private readonly error = h("div", { class: "llmw-error" });
  private readonly cut = h("span", { class: "llmw-stop-mark", title: "The answer stopped at the token limit: raise max_tokens for the rest" }, "cut at max_tokens");
  readonly pick: HTMLButtonElement;
  private stream: StreamingMarkdown | null = null;
  private shown = ""; // state + text rendered now

  constructor(pick: HTMLButtonElement) {
    this.pick = pick;
    this.el = h("td", { class: "llmw-compare-cell" }, this.body, this.cut, this.figures, this.error, pick);
  }

  update(cell: CompareCell): void {
    this.el.dataset.state = cell.state;
    const key = `${cell.state}\u0000${cell.text}`;
    if (key !== this.shown) {
      if (cell.state === "running") {
        if (!this.stream || !cell.text.startsWith(this.stream.text)) this.stream = new StreamingMarkdown(this.body);
        this.stream.append(cell.text.slice(this.stream.text.length));
      } else {
        this.stream = null;
        this.body.replaceChildren(cell.text ? renderMarkdown(cell.text) : "");
      }
      this.shown = key;
    }
    const parts =
      cell.state === "done"
        ? [
            cell.completion_tokens >= 0 ? `${cell.completion_tokens} tokens` : "",
            cell.tokens_per_second > 0 ? `${cell.tokens_per_second.toFixed(1)} tokens/s` : "",
            cell.ttft >= 0 ? `TTFT ${cell.ttft.toFixed(2)} s` : "",
            cell.reused ? "reused" : "",
          ]
        : [cell.state === "running" ? "writing…" : cell.state === "pending" ? (cell.completion_tokens < 0 ? "hidden until the round ends" : "waiting") : ""];
    this.figures.textContent = parts.filter(Boolean).join(" · ");
    showText(this.error, cell.error);
    this.cut.hidden = !cell.cut;
    this.el.dataset.cut = String(Boolean(cell.cut));
  }
}

function summaryText(s: CompareSummary, picks: number | undefined): string {
  const parts = [
    s.tokens_per_second >= 0 ? `mean ${s.tokens_per_second.toFixed(1)} tokens/s` : "",
    s.ttft >= 0 ? `TTFT ${s.ttft.toFixed(2)} s` : "",
    `${s.failed} failed`,
    s.agreement >= 0 ? `agreement ${Math.round(s.agreement * 100)}%` : "",
    picks !== undefined ? `${picks} ${picks === 1 ? "pick" : "picks"}` : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

/** The answers: prompts down, models across, a summary row per model; in blind mode a pick
 * button per answer. */
class AnswerGrid {
  private readonly head = h("tr");
  private readonly body = h("tbody");
  private readonly foot = h("tr", { class: "llmw-compare-summary" });
  readonly table = h("table", { class: "llmw-compare-grid", "aria-label": "Answers" }, h("thead", {}, this.head), this.body, h("tfoot", {}, this.foot));
  private answers: AnswerView[][] = [];
  private shape = "";

  constructor(private readonly requests: Requests) {}

  /** Rebuild the table's rows and columns when their number or headings change. */
  layout(names: string[], prompts: string[]): void {
    const now = JSON.stringify([names, prompts]);
    if (now === this.shape) return;
    this.shape = now;
    this.table.style.minWidth = `${10 + 16 * names.length}em`; // narrower scrolls sideways: no squeezed columns
    this.head.replaceChildren(h("th", { scope: "col" }, "Prompt"), ...names.map((n) => h("th", { scope: "col" }, n)));
    this.answers = prompts.map((_, row) =>
      names.map((_, column) => new AnswerView(this.requests.button(`Pick ${String.fromCharCode(65 + column)}`, () => ({ type: "pick", row, column })))),
    );
    this.body.replaceChildren(...prompts.map((p, row) => h("tr", {}, h("th", { scope: "row", class: "llmw-compare-prompt" }, p), ...this.answers[row].map((a) => a.el))));
  }

  /** Show each answer and its pick button (blind mode: shown until revealed, usable once the
   * prompt's answers are all in). */
  showAnswers(model: Model): void {
    const cells = model.get("cells");
    const picks = model.get("picks");
    const pickable = model.get("blind") && !model.get("revealed");
    this.answers.forEach((row, r) =>
      row.forEach((view, c) => {
        const cell = cells[r]?.[c];
        if (cell) view.update(cell);
        const ended = (cells[r] || []).every((x) => x.state === "done" || x.state === "failed");
        view.pick.hidden = !pickable;
        view.pick.setAttribute("aria-pressed", String(picks[r] === c));
        view.el.classList.toggle("llmw-compare-picked", picks[r] === c);
        if (!view.pick.hasAttribute("aria-busy")) view.pick.disabled = !ended;
      }),
    );
  }

  /** The summary row: each model's figures, and once a blind round is revealed, its picks. */
  showSummary(model: Model): void {
    const tally = model.get("tally");
    const heading = model.get("blind") && model.get("revealed") ? "Summary · tally" : "Summary";
    const figures = model.get("summary").map((s, c) => h("td", { class: "llmw-num" }, summaryText(s, tally.length ? tally[c] : undefined)));
    this.foot.replaceChildren(h("th", { scope: "row" }, heading), ...figures);
  }
}

function render(model: Model, el: HTMLElement): () => void {
  const view = new RunView(model, "Compare", () => update());
  const grid = new AnswerGrid(view.requests);
  const reveal = view.requests.button("Reveal", () => ({ type: "reveal" }));
  const body = [h("div", { class: "llmw-compare-scroll" }, grid.table)];
  view.mount(el, { className: "llmw-compare", title: "Compare models", body, actions: [reveal] });

  function update() {
    view.update();
    grid.layout(model.get("models"), model.get("prompts"));
    view.figures.textContent = view.counts("answers").filter(Boolean).join(" · ");
    grid.showAnswers(model);
    grid.showSummary(model);
    reveal.hidden = !model.get("blind") || model.get("revealed");
    if (!reveal.hasAttribute("aria-busy")) reveal.disabled = view.running();
  }

  return view.listen(update, ["cells", "summary", "models", "prompts", "picks", "revealed", "tally"]);
}

export default { render: ({ model, el }: RenderProps<CompareState>) => render(model, el) };
