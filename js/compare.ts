// Compare view: prompts down, models across, each answer as Markdown (streamed while it is
// written) with its figures; a summary row per model; progress, Stop / Resume; in blind mode a
// "Pick A" / "Pick B" ... per cell, Reveal, and the tally once revealed.
import type { AnyModel, RenderProps } from "@anywidget/types";
import { StreamingMarkdown, renderMarkdown } from "./markdown";
import type { CompareCell, CompareState, CompareSummary } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, h, listen, resyncWhenQuiet, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<CompareState>;

const STATUS_TEXT: Record<CompareState["status"], string> = {
  queued: "Queued",
  running: "Running",
  done: "Done",
  cancelled: "Stopped — Resume goes on where it stopped",
  failed: "Failed",
};

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

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model, () => update());
  const fill = h("div", { class: "llmw-bar-fill" });
  const bar = h("div", { class: "llmw-bar", role: "progressbar", "aria-label": "Compare progress", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, fill);
  const percent = h("span", { class: "llmw-percent llmw-num" });
  const badge = h("span", { class: "llmw-badge" });
  const figures = h("div", { class: "llmw-figures llmw-num", "aria-label": "Compare figures" });
  const detail = h("div", { class: "llmw-figures", role: "status" });
  const head = h("tr");
  const body = h("tbody");
  const foot = h("tr", { class: "llmw-compare-summary" });
  const table = h("table", { class: "llmw-compare-grid", "aria-label": "Answers" }, h("thead", {}, head), body, h("tfoot", {}, foot));
  const errorLine = h("div", { class: "llmw-error", role: "alert" });
  const stop = requests.button("Stop", () => ({ type: "stop" }));
  const resume = requests.button("Resume", () => ({ type: "resume" }), "llmw-primary");
  const reveal = requests.button("Reveal", () => ({ type: "reveal" }));
  const root = h(
    "div",
    { class: "llmw llmw-compare" },
    h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, "Compare models"), badge),
    h("div", { class: "llmw-progress-row" }, bar, percent),
    figures,
    detail,
    h("div", { class: "llmw-compare-scroll" }, table),
    errorLine,
    h("div", { class: "llmw-actions" }, stop, resume, reveal),
    notices.el,
  );
  connectionLine(root, requests);
  el.append(root);

  let answers: AnswerView[][] = [];
  let shape = "";
  const running = () => model.get("status") === "running" || model.get("status") === "queued";
  const watch = resyncWhenQuiet(requests, running, 3000);

  /** Rebuild the table's rows and columns when their number or headings change. */
  function layout(names: string[], prompts: string[]) {
    const now = JSON.stringify([names, prompts]);
    if (now === shape) return;
    shape = now;
    table.style.minWidth = `${10 + 16 * names.length}em`; // narrower scrolls sideways: no squeezed columns
    head.replaceChildren(h("th", { scope: "col" }, "Prompt"), ...names.map((n) => h("th", { scope: "col" }, n)));
    answers = prompts.map((_, row) =>
      names.map((_, column) => new AnswerView(requests.button(`Pick ${String.fromCharCode(65 + column)}`, () => ({ type: "pick", row, column })))),
    );
    body.replaceChildren(...prompts.map((p, row) => h("tr", {}, h("th", { scope: "row", class: "llmw-compare-prompt" }, p), ...answers[row].map((a) => a.el))));
  }

  function update() {
    watch.heard();
    const status = model.get("status");
    const blind = model.get("blind");
    const revealed = model.get("revealed");
    const names = model.get("models");
    layout(names, model.get("prompts"));
    const value = model.get("progress") || 0;
    fill.style.width = `${value}%`;
    bar.setAttribute("aria-valuenow", value.toFixed(1));
    percent.textContent = `${Math.floor(value)}%`;
    badge.textContent = STATUS_TEXT[status] ?? status;
    badge.className = `llmw-badge llmw-badge-${status}`;
    const counts = [
      `${model.get("completed")} of ${model.get("total")} answers`,
      model.get("failed") ? `${model.get("failed")} failed` : "",
      model.get("reused") ? `${model.get("reused")} reused from an earlier run` : "",
    ];
    figures.textContent = counts.filter(Boolean).join(" · ");
    showText(detail, running() ? model.get("detail") : "");
    const cells = model.get("cells");
    const picks = model.get("picks");
    answers.forEach((row, r) =>
      row.forEach((view, c) => {
        const cell = cells[r]?.[c];
        if (cell) view.update(cell);
        const ended = (cells[r] || []).every((x) => x.state === "done" || x.state === "failed");
        view.pick.hidden = !blind || revealed;
        view.pick.setAttribute("aria-pressed", String(picks[r] === c));
        view.el.classList.toggle("llmw-compare-picked", picks[r] === c);
        if (!view.pick.hasAttribute("aria-busy")) view.pick.disabled = !ended;
      }),
    );
    const tally = model.get("tally");
    const summary = model.get("summary");
    foot.replaceChildren(h("th", { scope: "row" }, blind && revealed ? "Summary · tally" : "Summary"), ...summary.map((s, c) => h("td", { class: "llmw-num" }, summaryText(s, tally.length ? tally[c] : undefined))));
    if (!stop.hasAttribute("aria-busy")) stop.disabled = !running();
    if (!resume.hasAttribute("aria-busy")) resume.disabled = running() || status === "done";
    reveal.hidden = !blind || revealed;
    if (!reveal.hasAttribute("aria-busy")) reveal.disabled = running();
    showText(errorLine, model.get("error"));
  }

  const unlisten = listen(model, {
    "msg:custom": customMessages(notices, requests),
    "change:status": update,
    "change:progress": update,
    "change:cells": update,
    "change:summary": update,
    "change:models": update,
    "change:prompts": update,
    "change:picks": update,
    "change:revealed": update,
    "change:tally": update,
    "change:detail": update,
    "change:error": update,
  });
  update();
  return teardown(root, notices, requests, () => (unlisten(), watch.stop()));
}

export default { render: ({ model, el }: RenderProps<CompareState>) => render(model, el) };
