// ModelBrowser's search view: search the Hub for GGUF repos and pick one. The picked repo's files
// (ModelCards) and the local library (LocalLibrary) are widgets of their own below it.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { ModelBrowserRequest, ModelBrowserState, SearchResult } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, formatCount, h, listen, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<ModelBrowserState>;

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model);
  const send = (msg: ModelBrowserRequest, busy?: HTMLButtonElement) => requests.send(msg, busy);
  const query = h("input", { type: "search", role: "searchbox", "aria-label": "Search models", placeholder: "Search GGUF models on the Hub" }) as HTMLInputElement;
  query.value = model.get("query");
  const searchButton = requests.button("Search", () => ({ type: "search", query: query.value }) satisfies ModelBrowserRequest, "llmw-primary");
  const search = () => send({ type: "search", query: query.value }, searchButton);
  query.addEventListener("keydown", (e: KeyboardEvent) => {
    if (e.key === "Enter") search();
  });
  const status = h("div", { class: "llmw-figures", role: "status" });
  const errorLine = h("div", { class: "llmw-error", role: "alert" });
  const results = h("ul", { class: "llmw-results", "aria-label": "Search results" });
  const root = h(
    "div",
    { class: "llmw llmw-browser" },
    h("div", { class: "llmw-search" }, query, searchButton),
    status,
    errorLine,
    results,
    notices.el,
  );
  root.append(connectionLine(root, requests));
  el.append(root);

  const renderResults = () => {
    const started = performance.now();
    const items = model.get("results") || [];
    const selected = model.get("selected_repo");
    results.replaceChildren(
      ...items.map((r: SearchResult) => {
        const label = h("span", {}, r.repo_id);
        if (r.gated) label.append(h("span", { class: "llmw-gated" }, "gated"));
        const meta = h("span", { class: "llmw-num llmw-figures" }, `↓ ${formatCount(r.downloads)} · ♥ ${formatCount(r.likes)} · ${(r.last_modified || "").slice(0, 10)}`);
        const b = h("button", { type: "button", "aria-current": r.repo_id === selected ? "true" : "false" }, label, meta);
        b.addEventListener("click", () => send({ type: "pick", repo_id: r.repo_id }));
        return h("li", {}, b);
      }),
    );
    // when the list is painted (two frames later): read by benchmarks/browser_render.py
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        results.dataset.renderMs = (performance.now() - started).toFixed(1);
        results.dataset.paintedAt = performance.now().toFixed(1);
        results.dataset.count = String(items.length);
      }),
    );
  };

  const update = () => {
    const s = model.get("status");
    status.textContent =
      s === "searching" ? "Searching…" : s === "offline" ? "The Hub is unreachable: the local library below still works." : "";
    showText(errorLine, model.get("error"));
  };
  const unlisten = listen(model, {
    "msg:custom": customMessages(notices, requests),
    "change:results": renderResults,
    "change:selected_repo": renderResults,
    "change:status": update,
    "change:error": update,
  });
  renderResults();
  update();
  return teardown(root, notices, requests, unlisten);
}

export default { render: ({ model, el }: RenderProps<ModelBrowserState>) => render(model, el) };
