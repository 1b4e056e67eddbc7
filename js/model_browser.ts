// ModelBrowser's search view: search the Hub for GGUF repos, pick one, and see its models as a
// compact list (quant, size, fit, a recommended pick). The cards of what is downloaded and the
// local library (LocalLibrary) are widgets of their own below it.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { ModelBrowserRequest, ModelBrowserState, RepoFile, SearchResult } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, formatBytes, formatCount, h, listen, showText, teardown } from "./ui";
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
  const repoName = h("div", { class: "llmw-section" });
  const files = h("table", { class: "llmw-table llmw-files", "aria-label": "Models in the repo" });
  const root = h(
    "div",
    { class: "llmw llmw-browser" },
    h("div", { class: "llmw-search" }, query, searchButton),
    status,
    errorLine,
    results,
    repoName,
    files,
    notices.el,
  );
  connectionLine(root, requests);
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

  const STATE: Record<string, string> = { queued: "Queued", running: "Downloading", done: "Downloaded", cancelled: "Partial, kept", failed: "Failed" };
  const fileRow = (f: RepoFile) => {
    const status = h("td", { class: "llmw-file-action" });
    if (f.status === "idle") status.append(requests.button("Download", () => ({ type: "download", filename: f.filename }) satisfies ModelBrowserRequest, f.recommended ? "llmw-primary" : ""));
    else status.append(h("span", { class: `llmw-badge llmw-badge-${f.status}` }, STATE[f.status] ?? f.status));
    const quant = h("td", { class: "llmw-quant" }, f.quant || "—");
    if (f.recommended) quant.append(h("span", { class: "llmw-recommended", title: "A good balance of size and quality that fits in memory" }, "Recommended"));
    const name = f.parts > 1 ? `${f.filename} (${f.parts} parts)` : f.filename;
    return h(
      "tr",
      { "data-filename": f.filename },
      quant,
      h("td", { class: "llmw-num" }, formatBytes(f.size)),
      h("td", { title: f.fit_detail }, f.fit ? h("span", { class: `llmw-fit llmw-fit-${f.fit.replace(/ /g, "-")}` }, f.fit) : ""),
      h("td", { class: "llmw-file-name", title: name }, name),
      status,
    );
  };
  const renderFiles = () => {
    const items = model.get("files") || [];
    const repo = model.get("selected_repo");
    const loading = model.get("files_status") === "loading";
    repoName.textContent = repo ? (loading ? `${repo} — listing its models…` : repo) : "";
    repoName.hidden = !repo;
    files.hidden = !items.length || loading;
    const head = h("tr", {}, h("th", {}, "Quant"), h("th", {}, "Size"), h("th", {}, "Memory"), h("th", {}, "File"), h("th", {}, ""));
    files.replaceChildren(head, ...items.map(fileRow));
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
    "change:selected_repo": () => (renderResults(), renderFiles()),
    "change:files": renderFiles,
    "change:files_status": renderFiles,
    "change:status": update,
    "change:error": update,
  });
  renderResults();
  renderFiles();
  update();
  return teardown(root, notices, requests, unlisten);
}

export default { render: ({ model, el }: RenderProps<ModelBrowserState>) => render(model, el) };
