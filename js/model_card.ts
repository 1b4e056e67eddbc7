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

/** What the figures line says of the download in each state. */
function downloadFigures(model: Model, status: string): string[] {
  const size = model.get("size") || 0;
  const done = model.get("bytes_done") || 0;
  if (status === "running") return [`${formatBytes(done)} of ${formatBytes(size)}`, model.get("detail") || formatSpeed(model.get("speed")), formatEta(model.get("eta"))];
  if (status === "cancelled") return [done > 0 ? `Cancelled — ${formatBytes(done)} of ${formatBytes(size)} kept; Download resumes` : "Cancelled"];
  if (status === "queued") return ["Waiting for a free download slot"];
  if (status === "done") return ["In the Hugging Face cache"];
  return [];
}

/** The loaded model in a line: architecture, context, GPU or CPU, chat format, engine. */
function loadedText(facts: ModelCardState["model_info"]): string {
  const engine = [facts.engine, facts.engine_version].filter(Boolean).join(" ");
  const device = facts.gpu_layers ? `GPU (${facts.gpu_layers} layers)` : "CPU";
  return [facts.architecture, facts.n_ctx ? `context ${facts.n_ctx}` : "", device, facts.chat_format, engine].filter(Boolean).join(" · ");
}

/** The card's parts, and how each shows the state. */
class Card {
  readonly notices = new Notices();
  readonly requests: Requests;
  readonly root: HTMLElement;
  private readonly title = h("div", { class: "llmw-title" });
  private readonly badge = h("span", { class: "llmw-badge" });
  private readonly subtitle = h("div", { class: "llmw-subtitle" });
  private readonly fill = h("div", { class: "llmw-bar-fill" });
  private readonly bar = progressBar("Download progress", this.fill);
  private readonly percent = h("span", { class: "llmw-percent llmw-num" });
  private readonly figures = h("div", { class: "llmw-figures llmw-num" });
  private readonly loadFill = h("div", { class: "llmw-bar-fill llmw-bar-load" });
  private readonly loadBar = progressBar("Load progress", this.loadFill);
  private readonly errorLine = h("div", { class: "llmw-error", role: "alert" });
  private readonly info = h("div", { class: "llmw-info" });
  // a GPU asked for (n_gpu_layers) that this llama.cpp build does not have
  private readonly gpuNote = h("div", { class: "llmw-info llmw-gpu-note", role: "note" });
  private readonly buttons;
  private readonly context;
  private readonly contextField: HTMLElement;

  constructor(private readonly model: Model) {
    this.requests = new Requests(model);
    const action = (label: string, type: ModelCardRequest["type"], className = "") =>
      this.requests.button(label, () => ({ type }) satisfies ModelCardRequest, className);
    this.buttons = {
      download: action("Download", "download", "llmw-primary"),
      cancel: action("Cancel", "cancel"),
      retry: action("Retry", "retry", "llmw-primary"),
      load: action("Load", "load", "llmw-primary"),
      unload: action("Unload", "unload"),
      stopRunning: action("Stop the running answer", "stop_running"),
    };
    this.context = numberField(model, "n_ctx", "Context size (tokens)", "256", true);
    const title = "Tokens the model can see at once: more needs more memory";
    this.contextField = h("label", { class: "llmw-context", title }, "Context ", this.context.field);
    this.root = h(
      "div",
      { class: "llmw llmw-card" },
      h("div", { class: "llmw-head" }, this.title, this.badge),
      this.subtitle,
      h("div", { class: "llmw-progress-row" }, this.bar, this.percent),
      this.figures,
      this.loadBar,
      this.errorLine,
      this.info,
      this.gpuNote,
      h("div", { class: "llmw-actions" }, ...Object.values(this.buttons), this.contextField),
      this.notices.el,
    );
  }

  update(): void {
    const status = this.model.get("status") || "idle";
    const load = this.model.get("load_status") || "unloaded";
    this.showHeading(status, load);
    this.showDownload(status);
    this.showLoad(load);
    showText(this.errorLine, this.model.get("error"));
    this.showButtons(status, load);
  }

  /** Repo, file, quant, size and memory fit; the badge: loaded or loading, else the download. */
  private showHeading(status: string, load: string): void {
    const { model } = this;
    const size = model.get("size") || 0;
    this.title.textContent = model.get("repo_id");
    this.subtitle.textContent = [model.get("filename"), model.get("quant"), size ? formatBytes(size) : ""].filter(Boolean).join(" · ");
    const fit = model.get("fit");
    this.subtitle.title = model.get("fit_detail") || "";
    if (fit) this.subtitle.append(h("span", { class: `llmw-fit llmw-fit-${fit.replace(/ /g, "-")}` }, fit));
    const loadText = load === "loaded" ? "Loaded" : load === "loading" ? "Loading" : "";
    this.badge.textContent = loadText || STATUS_TEXT[status]?.split(" — ")[0] || status;
    this.badge.className = `llmw-badge llmw-badge-${loadText ? load : status}`;
  }

  /** The download's bar, percent and figures. */
  private showDownload(status: string): void {
    const progress = Math.max(0, Math.min(100, this.model.get("progress") || 0));
    this.bar.setAttribute("aria-valuenow", String(Math.round(progress)));
    this.bar.setAttribute("aria-valuetext", `${Math.round(progress)}%`);
    this.fill.style.width = `${progress}%`;
    this.root.dataset.status = status;
    this.percent.textContent = status === "idle" ? "" : `${Math.floor(progress)}%`;
    this.figures.textContent = downloadFigures(this.model, status).filter(Boolean).join(" · ");
  }

  /** The load's bar (while it loads), then what was loaded, and a note on the GPU. */
  private showLoad(load: string): void {
    const loadProgress = Math.max(0, Math.min(100, this.model.get("load_progress") || 0));
    show(this.loadBar, load === "loading");
    this.loadBar.setAttribute("aria-valuenow", String(Math.round(loadProgress)));
    this.loadFill.style.width = `${Math.max(loadProgress, 8)}%`;
    this.loadBar.classList.toggle("llmw-indeterminate", loadProgress < 10);
    const facts = this.model.get("model_info") || {};
    const loadDetail = load === "loading" ? this.model.get("load_detail") : "";
    show(this.info, load === "loaded" || Boolean(loadDetail));
    this.info.textContent = load === "loaded" ? loadedText(facts) : loadDetail ? `Load ${loadDetail}` : "";
    showText(this.gpuNote, load === "loaded" ? String(facts.gpu_note || "") : "");
  }

  /** The buttons that fit the state, and the context size before a load. */
  private showButtons(status: string, load: string): void {
    const { buttons } = this;
    const loadDetail = load === "loading" ? this.model.get("load_detail") : "";
    const loadable = status === "done" && (load === "unloaded" || load === "failed");
    show(buttons.download, status === "idle" || status === "cancelled");
    show(buttons.cancel, status === "running" || status === "queued");
    show(buttons.retry, status === "failed");
    show(buttons.load, loadable);
    show(buttons.unload, load === "loaded" || load === "loading");
    show(buttons.stopRunning, loadDetail === "waiting for the running answer");
    show(this.contextField, loadable);
    this.context.refresh();
  }
}

const CARD_TRAITS = [
  "status", "progress", "is_downloading", "error", "size", "bytes_done", "speed", "eta", "detail",
  "load_status", "load_progress", "load_detail", "model_info", "repo_id", "filename", "quant", "fit", "fit_detail", "n_ctx",
];

export function renderCard(model: Model, el: HTMLElement): () => void {
  const card = new Card(model);
  const { root, notices, requests } = card;
  connectionLine(root, requests);
  el.append(root);
  const watch = resyncWhenQuiet(requests, () => ["queued", "running"].includes(model.get("status")), 1200);
  const update = () => {
    watch.heard();
    card.update();
  };
  const handlers: Record<string, (...args: any[]) => void> = { "msg:custom": customMessages(notices, requests) };
  for (const name of CARD_TRAITS) handlers[`change:${name}`] = update;
  const unlisten = listen(model, handlers);
  update();
  return teardown(root, notices, requests, () => (unlisten(), watch.stop()));
}

export default { render: ({ model, el }: RenderProps<ModelCardState>) => renderCard(model, el) };
