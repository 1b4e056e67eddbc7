// BatchRun view: a batch run's progress bar, items done, tokens/s, ETA, errors so far, the latest
// results, and Stop / Resume.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { BatchRunState } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, formatEta, h, listen, resyncWhenQuiet, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<BatchRunState>;

// answers this short (labels: a few tokens each) make tokens/s say nothing that items/s does not
const SHORT_ANSWER = 8;

const STATUS_TEXT: Record<BatchRunState["status"], string> = {
  queued: "Queued",
  running: "Running",
  done: "Done",
  cancelled: "Stopped — Resume goes on where it stopped",
  failed: "Failed",
};

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model, () => update());
  const fill = h("div", { class: "llmw-bar-fill" });
  const bar = h("div", { class: "llmw-bar", role: "progressbar", "aria-label": "Batch progress", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, fill);
  const percent = h("span", { class: "llmw-percent llmw-num" });
  const badge = h("span", { class: "llmw-badge" });
  const figures = h("div", { class: "llmw-figures llmw-num", "aria-label": "Batch figures" });
  const detail = h("div", { class: "llmw-figures", role: "status" });
  const errorList = h("ul", { class: "llmw-batch-errors", "aria-label": "Errors" });
  const recentList = h("table", { class: "llmw-table llmw-batch-recent", "aria-label": "Latest results" });
  const errorLine = h("div", { class: "llmw-error", role: "alert" });
  const stop = requests.button("Stop", () => ({ type: "stop" }));
  const resume = requests.button("Resume", () => ({ type: "resume" }), "llmw-primary");
  const root = h(
    "div",
    { class: "llmw llmw-batch" },
    h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, "Batch run"), badge),
    h("div", { class: "llmw-progress-row" }, bar, percent),
    figures,
    detail,
    errorList,
    recentList,
    errorLine,
    h("div", { class: "llmw-actions" }, stop, resume),
    notices.el,
  );
  connectionLine(root, requests);
  el.append(root);

  const running = () => model.get("status") === "running" || model.get("status") === "queued";
  const watch = resyncWhenQuiet(requests, running, 3000);

  const reusedText = () => {
    const reused = model.get("reused");
    if (!reused) return "";
    return model.get("resumed") ? `resumed: ${reused} done before` : `${reused} reused from an earlier run`;
  };
  const recentRows = () => {
    const recent = model.get("recent");
    const labelled = recent.some((r) => r.expected !== undefined);
    const head = h("tr", {}, h("th", {}, "#"), h("th", {}, "Input"), h("th", {}, "Answer"), ...(labelled ? [h("th", {}, "Expected"), h("th", {}, "")] : []));
    const rows = recent.map((r) =>
      h(
        "tr",
        { class: r.correct === false ? "llmw-wrong" : "" },
        h("td", { class: "llmw-num" }, String(r.index + 1)),
        h("td", { class: "llmw-batch-input", title: r.input }, r.input),
        h("td", {}, h("strong", {}, r.output)),
        ...(labelled
          ? [
              h("td", {}, r.expected ?? ""),
              h("td", { class: r.correct ? "llmw-right" : "llmw-wrong", "aria-label": r.correct ? "right" : "wrong" }, r.correct ? "✓" : "✗"),
            ]
          : []),
      ),
    );
    return [head, ...rows];
  };

  function update() {
    watch.heard();
    const status = model.get("status");
    const value = model.get("progress") || 0;
    fill.style.width = `${value}%`;
    bar.setAttribute("aria-valuenow", value.toFixed(1));
    percent.textContent = `${Math.floor(value)}%`;
    badge.textContent = STATUS_TEXT[status] ?? status;
    badge.className = `llmw-badge llmw-badge-${status}`;
    const eta = model.get("eta");
    const parts = [
      `${model.get("completed")} of ${model.get("total")} done`,
      model.get("failed") ? `${model.get("failed")} failed` : "",
      reusedText(),
      model.get("expected") ? model.get("accuracy_text") : "",
      // a one-token label's tokens/s says nothing the items/s does not
      model.get("tokens_per_second") && model.get("tokens_per_item") >= SHORT_ANSWER ? `${model.get("tokens_per_second").toFixed(1)} tokens/s` : "",
      model.get("items_per_second") ? `${model.get("items_per_second").toFixed(2)} items/s` : "",
      running() && eta >= 0 ? formatEta(eta) : "",
    ];
    figures.textContent = parts.filter(Boolean).join(" · ");
    showText(detail, running() ? model.get("detail") : "");
    errorList.replaceChildren(...model.get("errors").map((e) => h("li", {}, `#${e.index + 1}: ${e.error}`)));
    errorList.hidden = !model.get("errors").length;
    recentList.replaceChildren(...recentRows());
    recentList.hidden = !model.get("recent").length;
    if (!stop.hasAttribute("aria-busy")) stop.disabled = !running();
    if (!resume.hasAttribute("aria-busy")) resume.disabled = running() || status === "done";
    showText(errorLine, model.get("error"));
  }

  const unlisten = listen(model, {
    "msg:custom": customMessages(notices, requests),
    "change:status": update,
    "change:progress": update,
    "change:completed": update,
    "change:failed": update,
    "change:recent": update,
    "change:errors": update,
    "change:detail": update,
    "change:eta": update,
    "change:error": update,
    "change:correct": update,
    "change:accuracy_text": update,
    "change:resumed": update,
  });
  update();
  return teardown(root, notices, requests, () => (unlisten(), watch.stop()));
}

export default { render: ({ model, el }: RenderProps<BatchRunState>) => render(model, el) };
