// ModelBrowser view: search the Hub for GGUF repos, pick one; the local library below.
// The picked repo's files are ModelCards, shown by the container the Python side builds.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { LocalModel, ModelBrowserRequest, ModelBrowserState, Notice, SearchResult } from "./protocol";
import { Notices, button, formatBytes, formatCount, h, listen, show, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<ModelBrowserState>;

function render(model: Model, el: HTMLElement): () => void {
  const send = (msg: ModelBrowserRequest) => model.send(msg);
  const notices = new Notices();
  const query = h("input", { type: "search", role: "searchbox", "aria-label": "Search models", placeholder: "Search GGUF models on the Hub" }) as HTMLInputElement;
  query.value = model.get("query");
  const search = () => send({ type: "search", query: query.value });
  query.addEventListener("keydown", (e: KeyboardEvent) => {
    if (e.key === "Enter") search();
  });
  const status = h("div", { class: "llmw-figures", role: "status" });
  const errorLine = h("div", { class: "llmw-error", role: "alert" });
  const results = h("ul", { class: "llmw-results", "aria-label": "Search results" });
  const library = h("table", { class: "llmw-table", "aria-label": "Local models" });
  const libraryTotal = h("span", { class: "llmw-figures llmw-num" });
  const root = h(
    "div",
    { class: "llmw llmw-browser" },
    h("div", { class: "llmw-search" }, query, button("Search", search, "llmw-primary")),
    status,
    errorLine,
    results,
    h("div", { class: "llmw-section" }, "Local library ", libraryTotal),
    library,
    h("div", { class: "llmw-actions" }, button("Refresh", () => send({ type: "refresh_local" }))),
    notices.el,
  );
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

  const confirmRow = (row: HTMLTableRowElement, m: LocalModel) => {
    const cell = row.lastElementChild as HTMLElement;
    cell.replaceChildren(
      h("span", {}, "Delete this file? "),
      button("Delete", () => send({ type: "delete", repo_id: m.repo_id, filename: m.filename }), "llmw-primary"),
      button("Keep", renderLibrary),
    );
  };

  function renderLibrary() {
    const items = model.get("local") || [];
    libraryTotal.textContent = `(${formatBytes(model.get("local_total") || 0)} on disk)`;
    const head = h("tr", {}, h("th", {}, "Model"), h("th", {}, "Quant"), h("th", {}, "Size"), h("th", {}, ""));
    const rows = items.map((m: LocalModel) => {
      const actions = h("td", {});
      const row = h(
        "tr",
        {},
        h("td", {}, `${m.repo_id}/${m.filename}`),
        h("td", {}, m.quant || ""),
        h("td", { class: "llmw-num" }, m.partial ? `${formatBytes(m.bytes_done)} of ${formatBytes(m.size)} (partial)` : formatBytes(m.size)),
        actions,
      );
      if (m.partial) {
        actions.append(
          button("Resume", () => send({ type: "resume", repo_id: m.repo_id, filename: m.filename })),
          button("Discard", () => send({ type: "discard", repo_id: m.repo_id, filename: m.filename })),
        );
      } else {
        actions.append(button("Delete", () => confirmRow(row, m)));
      }
      return row;
    });
    library.replaceChildren(head, ...rows);
    if (!items.length) library.append(h("tr", {}, h("td", { class: "llmw-empty", colspan: 4 }, "No GGUF files in the cache yet.")));
  }

  const update = () => {
    const s = model.get("status");
    status.textContent =
      s === "searching" ? "Searching…" : s === "offline" ? "The Hub is unreachable: showing the local library only." : "";
    const error = model.get("error");
    errorLine.textContent = error;
    show(errorLine, Boolean(error));
  };
  const onMessage = (msg: Notice | { type: string }) => {
    if (msg && msg.type === "notice") notices.add((msg as Notice).level, (msg as Notice).text);
  };
  const unlisten = listen(model, {
    "msg:custom": onMessage,
    "change:results": renderResults,
    "change:selected_repo": renderResults,
    "change:local": renderLibrary,
    "change:local_total": renderLibrary,
    "change:status": update,
    "change:error": update,
  });
  renderResults();
  renderLibrary();
  update();
  return teardown(root, notices, unlisten);
}

export default { render: ({ model, el }: RenderProps<ModelBrowserState>) => render(model, el) };
