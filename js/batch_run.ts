// BatchRun view: a batch run's progress bar, items done, tokens/s, ETA, errors so far, the latest
// results, and Stop / Resume.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { BatchRunState } from "./protocol";
import { RunView } from "./run_view";
import { formatEta, h } from "./ui";
import "./styles.css";

type Model = AnyModel<BatchRunState>;

// answers this short (labels: a few tokens each) make tokens/s say nothing that items/s does not
const SHORT_ANSWER = 8;

/** What was done before this run: reused from an earlier run, or (after Resume) done before. */
function reusedText(model: Model): string {
  const reused = model.get("reused");
  if (!reused) return "";
  return model.get("resumed") ? `resumed: ${reused} done before` : `${reused} reused from an earlier run`;
}

/** The figures line: done of all, failed, reused, accuracy, speeds, time left. */
function figuresText(model: Model, view: RunView): string {
  const eta = model.get("eta");
  const parts = [
    ...view.counts("done", reusedText(model)),
    model.get("expected") ? model.get("accuracy_text") : "",
    // a one-token label's tokens/s says nothing the items/s does not
    model.get("tokens_per_second") && model.get("tokens_per_item") >= SHORT_ANSWER ? `${model.get("tokens_per_second").toFixed(1)} tokens/s` : "",
    model.get("items_per_second") ? `${model.get("items_per_second").toFixed(2)} items/s` : "",
    view.running() && eta >= 0 ? formatEta(eta) : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

/** The latest results as table rows: input and answer, and where inputs carry a true label, the
 * label and whether the answer matched it. */
function recentRows(model: Model): HTMLTableRowElement[] {
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
}

function render(model: Model, el: HTMLElement): () => void {
  const view = new RunView(model, "Batch", () => update());
  const errorList = h("ul", { class: "llmw-batch-errors", "aria-label": "Errors" });
  const recentList = h("table", { class: "llmw-table llmw-batch-recent", "aria-label": "Latest results" });
  view.mount(el, { className: "llmw-batch", title: "Batch run", body: [errorList, recentList] });

  function update() {
    view.update();
    view.figures.textContent = figuresText(model, view);
    errorList.replaceChildren(...model.get("errors").map((e) => h("li", {}, `#${e.index + 1}: ${e.error}`)));
    errorList.hidden = !model.get("errors").length;
    recentList.replaceChildren(...recentRows(model));
    recentList.hidden = !model.get("recent").length;
  }

  return view.listen(update, ["completed", "failed", "recent", "errors", "eta", "correct", "accuracy_text", "resumed"]);
}

export default { render: ({ model, el }: RenderProps<BatchRunState>) => render(model, el) };
