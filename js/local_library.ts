// LocalLibrary view: the GGUFs in the Hugging Face cache with Delete (confirmed), Resume, Discard.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { LocalLibraryRequest, LocalLibraryState, LocalModel } from "./protocol";
import { Notices, Requests, button, connectionLine, customMessages, formatBytes, h, listen, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<LocalLibraryState>;

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model);
  const action = (label: string, msg: LocalLibraryRequest, className = "") => requests.button(label, () => msg, className);
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

  const confirmRow = (row: HTMLTableRowElement, m: LocalModel) => {
    const cell = row.lastElementChild as HTMLElement;
    cell.replaceChildren(
      h("span", {}, "Delete this file? "),
      action("Delete", { type: "delete", repo_id: m.repo_id, filename: m.filename }, "llmw-danger"),
      button("Keep", renderTable),
    );
  };

  function renderTable() {
    const items = model.get("local") || [];
    total.textContent = `(${formatBytes(model.get("local_total") || 0)} on disk)`;
    const head = h("tr", {}, h("th", {}, "Model"), h("th", {}, "Quant"), h("th", {}, "Size"), h("th", {}, ""));
    const rows = items.map((m: LocalModel) => {
      const actions = h("td", {});
      const row = h(
        "tr",
        {},
        h("td", {}, `${m.repo_id}/${m.filename}`),
        h("td", {}, m.quant || ""),
        h(
          "td",
          { class: "llmw-num" },
          m.downloading
            ? `${formatBytes(m.bytes_done)} of ${formatBytes(m.size)}`
            : m.stale
              ? `${formatBytes(m.bytes_done)} (stale partial)`
              : m.partial
                ? `${formatBytes(m.bytes_done)} of ${formatBytes(m.size)} (partial)`
                : formatBytes(m.size),
        ),
        actions,
      );
      if (m.downloading) {
        // its card or browser row has Cancel; nothing to resume or discard while it grows
        actions.append(h("span", { class: "llmw-badge llmw-badge-running" }, "Downloading"));
      } else if (m.stale) {
        row.title = "A partial download nothing can resume (the file changed, or its download was killed)";
        actions.append(action("Discard", { type: "discard", repo_id: m.repo_id, filename: m.filename }));
      } else if (m.partial) {
        actions.append(
          action("Resume", { type: "resume", repo_id: m.repo_id, filename: m.filename }),
          action("Discard", { type: "discard", repo_id: m.repo_id, filename: m.filename }),
        );
      } else if (m.loaded) {
        actions.append(h("span", { class: "llmw-badge llmw-badge-done" }, "Loaded"), action("Unload", { type: "unload" }));
      } else {
        actions.append(
          action("Load", { type: "load", repo_id: m.repo_id, filename: m.filename }),
          button("Delete", () => confirmRow(row, m)),
        );
      }
      return row;
    });
    table.replaceChildren(head, ...rows);
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
