// ModelBrowser's search view: search the Hub for GGUF repos, pick one, and see its models as a
// compact list (quant, size, fit, a recommended pick). The cards of what is downloaded and the
// local library (LocalLibrary) are widgets of their own below it.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { ModelBrowserRequest, ModelBrowserState, RepoFile, SearchResult } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, formatBytes, formatCount, h, listen, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<ModelBrowserState>;

const FILE_STATE: Record<string, string> = { queued: "Queued", running: "Downloading", done: "Downloaded", cancelled: "Partial, kept", failed: "Failed" };

/** The search field and its button (Enter searches too). */
function searchBar(model: Model, requests: Requests): HTMLElement {
  const query = h("input", { type: "search", role: "searchbox", "aria-label": "Search models", placeholder: "Search GGUF models on the Hub" }) as HTMLInputElement;
  query.value = model.get("query");
  const search = (): ModelBrowserRequest => ({ type: "search", query: query.value });
  const searchButton = requests.button("Search", search, "llmw-primary");
  query.addEventListener("keydown", (e: KeyboardEvent) => {
    if (e.key === "Enter") requests.send(search(), searchButton);
  });
  return h("div", { class: "llmw-search" }, query, searchButton);
}

/** The search results in `list`: a button per repo that picks it. */
function showResults(list: HTMLElement, model: Model, requests: Requests): void {
  const started = performance.now();
  const items = model.get("results") || [];
  const selected = model.get("selected_repo");
  list.replaceChildren(
    ...items.map((r: SearchResult) => {
      const label = h("span", {}, r.repo_id);
      if (r.gated) label.append(h("span", { class: "llmw-gated" }, "gated"));
      const meta = h("span", { class: "llmw-num llmw-figures" }, `↓ ${formatCount(r.downloads)} · ♥ ${formatCount(r.likes)} · ${(r.last_modified || "").slice(0, 10)}`);
      const b = h("button", { type: "button", "aria-current": r.repo_id === selected ? "true" : "false" }, label, meta);
      b.addEventListener("click", () => requests.send({ type: "pick", repo_id: r.repo_id } satisfies ModelBrowserRequest));
      return h("li", {}, b);
    }),
  );
  // when the list is painted (two frames later): read by benchmarks/browser_render.py
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      list.dataset.renderMs = (performance.now() - started).toFixed(1);
      list.dataset.paintedAt = performance.now().toFixed(1);
      list.dataset.count = String(items.length);
    }),
  );
}

/** A file of the picked repo: quant (and whether it is the recommended one), size, memory fit,
 * name, and Download or how its download stands. */
function fileRow(f: RepoFile, requests: Requests): HTMLTableRowElement {
  const status = h("td", { class: "llmw-file-action" });
  if (f.status === "idle") status.append(requests.button("Download", () => ({ type: "download", filename: f.filename }) satisfies ModelBrowserRequest, f.recommended ? "llmw-primary" : ""));
  else status.append(h("span", { class: `llmw-badge llmw-badge-${f.status}` }, FILE_STATE[f.status] ?? f.status));
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
}

/** The picked repo's name (while its files are listed, says so) and its files in `files`. */
function showFiles(repoName: HTMLElement, files: HTMLElement, model: Model, requests: Requests): void {
  const items = model.get("files") || [];
  const repo = model.get("selected_repo");
  const loading = model.get("files_status") === "loading";
  repoName.textContent = repo ? (loading ? `${repo} — listing its models…` : repo) : "";
  repoName.hidden = !repo;
  files.hidden = !items.length || loading;
  const head = h("tr", {}, h("th", {}, "Quant"), h("th", {}, "Size"), h("th", {}, "Memory"), h("th", {}, "File"), h("th", {}, ""));
  files.replaceChildren(head, ...items.map((f) => fileRow(f, requests)));
}

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model);
  const status = h("div", { class: "llmw-figures", role: "status" });
  const errorLine = h("div", { class: "llmw-error", role: "alert" });
  const results = h("ul", { class: "llmw-results", "aria-label": "Search results" });
  const repoName = h("div", { class: "llmw-section" });
  const files = h("table", { class: "llmw-table llmw-files", "aria-label": "Models in the repo" });
  const root = h("div", { class: "llmw llmw-browser" }, searchBar(model, requests), status, errorLine, results, repoName, files, notices.el);
  connectionLine(root, requests);
  el.append(root);

  const renderResults = () => showResults(results, model, requests);
  const renderFiles = () => showFiles(repoName, files, model, requests);
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
