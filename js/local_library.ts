// LocalLibrary view: the GGUFs in the Hugging Face cache with Delete (confirmed), Resume, Discard.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { LocalLibraryRequest, LocalLibraryState, LocalModel } from "./protocol";
import { Notices, Requests, button, connectionLine, customMessages, formatBytes, h, listen, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<LocalLibraryState>;

type FileRequest = Extract<LocalLibraryRequest, { repo_id: string }>["type"];
/** A button that sends `msg` and is busy until the kernel answers. */
type Action = (label: string, msg: LocalLibraryRequest, className?: string) => HTMLButtonElement;

/** The size column: done of all while it downloads, a partial's bytes, or the file's size. */
function sizeText(m: LocalModel): string {
  if (m.downloading) return `${formatBytes(m.bytes_done)} of ${formatBytes(m.size)}`;
  if (m.stale) return `${formatBytes(m.bytes_done)} (stale partial)`;
  if (m.partial) return `${formatBytes(m.bytes_done)} of ${formatBytes(m.size)} (partial)`;
  return formatBytes(m.size);
}

/** What a file's row offers: nothing while it downloads, Discard for a stale partial, Resume or
 * Discard for a partial, Unload when loaded, else Load and Delete (`confirm` asks first). */
function rowActions(m: LocalModel, action: Action, confirm: () => void): Node[] {
  const file = (type: FileRequest, label: string) => action(label, { type, repo_id: m.repo_id, filename: m.filename });
  // its card or browser row has Cancel; nothing to resume or discard while it grows
  if (m.downloading) return [h("span", { class: "llmw-badge llmw-badge-running" }, "Downloading")];
  if (m.stale) return [file("discard", "Discard")];
  if (m.partial) return [file("resume", "Resume"), file("discard", "Discard")];
  if (m.loaded) return [h("span", { class: "llmw-badge llmw-badge-done" }, "Loaded"), action("Unload", { type: "unload" })];
  return [file("load", "Load"), button("Delete", confirm)];
}

/** A file's row; Delete asks in the row first, Keep (`redraw`) puts the row back. */
function modelRow(m: LocalModel, action: Action, redraw: () => void): HTMLTableRowElement {
  const actions = h("td", {});
  const row = h("tr", {}, h("td", {}, `${m.repo_id}/${m.filename}`), h("td", {}, m.quant || ""), h("td", { class: "llmw-num" }, sizeText(m)), actions);
  if (m.stale) row.title = "A partial download nothing can resume (the file changed, or its download was killed)";
  const confirm = () =>
    actions.replaceChildren(
      h("span", {}, "Delete this file? "),
      action("Delete", { type: "delete", repo_id: m.repo_id, filename: m.filename }, "llmw-danger"),
      button("Keep", redraw),
    );
  actions.append(...rowActions(m, action, confirm));
  return row;
}

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model);
  const action: Action = (label, msg, className = "") => requests.button(label, () => msg, className);
  const table = h("table", { class: "llmw-table", "aria-label": "Local models" });
  const total = h("span", { class: "llmw-figures llmw-num" });
  const errorLine = h("div", { class: "llmw-error", role: "alert" });
  const root = h(
    "div",
    { class: "llmw llmw-library" },
    h("div", { class: "llmw-section" }, "Local library ", total),
    table,
    errorLine,
    h("div", { class: "llmw-actions" }, action("Refresh", { type: "refresh" })),
    notices.el,
  );
  connectionLine(root, requests);
  el.append(root);

  function renderTable() {
    const items = model.get("local") || [];
    total.textContent = `(${formatBytes(model.get("local_total") || 0)} on disk)`;
    const head = h("tr", {}, h("th", {}, "Model"), h("th", {}, "Quant"), h("th", {}, "Size"), h("th", {}, ""));
    table.replaceChildren(head, ...items.map((m) => modelRow(m, action, renderTable)));
    if (!items.length) table.append(h("tr", {}, h("td", { class: "llmw-empty", colspan: 4 }, "No GGUF files in the cache yet.")));
  }

  const updateError = () => {
    showText(errorLine, model.get("error"));
  };
  const unlisten = listen(model, {
    "msg:custom": customMessages(notices, requests),
    "change:local": renderTable,
    "change:local_total": renderTable,
    "change:error": updateError,
  });
  renderTable();
  updateError();
  return teardown(root, notices, requests, unlisten);
}

export default { render: ({ model, el }: RenderProps<LocalLibraryState>) => render(model, el) };
