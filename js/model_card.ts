// ModelCard view: one GGUF file — download with live progress, cancel, retry, load, unload.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { ModelCardRequest, ModelCardState } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, formatBytes, formatEta, formatSpeed, h, listen, numberField, resyncWhenQuiet, show, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<ModelCardState>;

const STATUS_TEXT: Record<string, string> = {
  idle: "Not downloaded",
  queued: "Queued",
  running: "Downloading",
  done: "Downloaded",
  cancelled: "Cancelled — the partial file is kept; Download resumes",
  failed: "Download failed",
};

/** A 0–100 progress bar; its accessible name is `label`, its value is set on aria-valuenow. */
function progressBar(label: string, fill: HTMLElement): HTMLDivElement {
  const attrs = { class: "llmw-bar", role: "progressbar", "aria-label": label };
  return h("div", { ...attrs, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, fill);
}

export function renderCard(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model);
  const action = (label: string, type: ModelCardRequest["type"], className = "") =>
    requests.button(label, () => ({ type }) satisfies ModelCardRequest, className);

  const title = h("div", { class: "llmw-title" });
  const badge = h("span", { class: "llmw-badge" });
  const subtitle = h("div", { class: "llmw-subtitle" });
  const fill = h("div", { class: "llmw-bar-fill" });
  const bar = progressBar("Download progress", fill);
  const percent = h("span", { class: "llmw-percent llmw-num" });
  const figures = h("div", { class: "llmw-figures llmw-num" });
  const loadFill = h("div", { class: "llmw-bar-fill llmw-bar-load" });
  const loadBar = progressBar("Load progress", loadFill);
  const errorLine = h("div", { class: "llmw-error", role: "alert" });
  const info = h("div", { class: "llmw-info" });
  // a GPU asked for (n_gpu_layers) that this llama.cpp build does not have
  const gpuNote = h("div", { class: "llmw-info llmw-gpu-note", role: "note" });
  const buttons = {
    download: action("Download", "download", "llmw-primary"),
    cancel: action("Cancel", "cancel"),
    retry: action("Retry", "retry", "llmw-primary"),
    load: action("Load", "load", "llmw-primary"),
    unload: action("Unload", "unload"),
    stopRunning: action("Stop the running answer", "stop_running"),
  };
  const context = numberField(model, "n_ctx", "Context size (tokens)", "256", true);
  const nCtx = context.field;
  const contextField = h("label", { class: "llmw-context", title: "Tokens the model can see at once: more needs more memory" }, "Context ", nCtx);
  const root = h(
    "div",
    { class: "llmw llmw-card" },
    h("div", { class: "llmw-head" }, title, badge),
    subtitle,
    h("div", { class: "llmw-progress-row" }, bar, percent),
    figures,
    loadBar,
    errorLine,
    info,
    gpuNote,
    h("div", { class: "llmw-actions" }, ...Object.values(buttons), contextField),
    notices.el,
  );
  connectionLine(root, requests);
  el.append(root);
  const watch = resyncWhenQuiet(requests, () => ["queued", "running"].includes(model.get("status")), 1200);

  const update = () => {
    watch.heard();
    const status = model.get("status") || "idle";
    const load = model.get("load_status") || "unloaded";
    const progress = Math.max(0, Math.min(100, model.get("progress") || 0));
    const size = model.get("size") || 0;
    const done = model.get("bytes_done") || 0;
    title.textContent = model.get("repo_id");
    const quant = model.get("quant");
    const parts = [model.get("filename"), quant, size ? formatBytes(size) : ""].filter(Boolean);
    subtitle.textContent = parts.join(" · ");
    const fit = model.get("fit");
    subtitle.title = model.get("fit_detail") || "";
    if (fit) subtitle.append(h("span", { class: `llmw-fit llmw-fit-${fit.replace(/ /g, "-")}` }, fit));

    const loadText = load === "loaded" ? "Loaded" : load === "loading" ? "Loading" : "";
    badge.textContent = loadText || STATUS_TEXT[status]?.split(" — ")[0] || status;
    badge.className = `llmw-badge llmw-badge-${loadText ? load : status}`;

    bar.setAttribute("aria-valuenow", String(Math.round(progress)));
    bar.setAttribute("aria-valuetext", `${Math.round(progress)}%`);
    fill.style.width = `${progress}%`;
    root.dataset.status = status;
    percent.textContent = status === "idle" ? "" : `${Math.floor(progress)}%`;

    const active = status === "running" || status === "queued";
    const figureParts =
      status === "running"
        ? [`${formatBytes(done)} of ${formatBytes(size)}`, model.get("detail") || formatSpeed(model.get("speed")), formatEta(model.get("eta"))]
        : status === "cancelled"
          ? [done > 0 ? `Cancelled — ${formatBytes(done)} of ${formatBytes(size)} kept; Download resumes` : "Cancelled"]
          : status === "queued"
            ? ["Waiting for a free download slot"]
            : status === "done"
              ? ["In the Hugging Face cache"]
              : [];
    figures.textContent = figureParts.filter(Boolean).join(" · ");

    const loadProgress = Math.max(0, Math.min(100, model.get("load_progress") || 0));
    show(loadBar, load === "loading");
    loadBar.setAttribute("aria-valuenow", String(Math.round(loadProgress)));
    loadFill.style.width = `${Math.max(loadProgress, 8)}%`;
    loadBar.classList.toggle("llmw-indeterminate", loadProgress < 10);

    showText(errorLine, model.get("error"));

    const facts = model.get("model_info") || {};
    const loadDetail = load === "loading" ? model.get("load_detail") : "";
    show(info, load === "loaded" || Boolean(loadDetail));
    info.textContent =
      load === "loaded"
        ? [facts.architecture, facts.n_ctx ? `context ${facts.n_ctx}` : "", facts.gpu_layers ? `GPU (${facts.gpu_layers} layers)` : "CPU", facts.chat_format, [facts.engine, facts.engine_version].filter(Boolean).join(" ")]
            .filter(Boolean)
            .join(" · ")
        : loadDetail ? `Load ${loadDetail}` : "";
    showText(gpuNote, load === "loaded" ? String(facts.gpu_note || "") : "");

    show(buttons.download, status === "idle" || status === "cancelled");
    show(buttons.cancel, active);
    show(buttons.retry, status === "failed");
    show(buttons.load, status === "done" && (load === "unloaded" || load === "failed"));
    show(buttons.unload, load === "loaded" || load === "loading");
    show(buttons.stopRunning, loadDetail === "waiting for the running answer");
    show(contextField, status === "done" && (load === "unloaded" || load === "failed"));
    context.refresh();
  };

  const names = [
    "status", "progress", "is_downloading", "error", "size", "bytes_done", "speed", "eta", "detail",
    "load_status", "load_progress", "load_detail", "model_info", "repo_id", "filename", "quant", "fit", "fit_detail", "n_ctx",
  ];
  const handlers: Record<string, (...args: any[]) => void> = { "msg:custom": customMessages(notices, requests) };
  for (const name of names) handlers[`change:${name}`] = update;
  const unlisten = listen(model, handlers);
  update();
  return teardown(root, notices, requests, () => (unlisten(), watch.stop()));
}

export default { render: ({ model, el }: RenderProps<ModelCardState>) => renderCard(model, el) };
