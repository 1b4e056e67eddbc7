// What every run view shares (BatchRun, Compare, the next ones): a title with the run's state, a
// progress bar, a figures line, what the run waits for, the error line, Stop / Resume, notices
// and the connection line; while the run goes on, a resync when the kernel goes quiet.
import type { AnyModel } from "@anywidget/types";
import type { BatchRunState } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, h, listen, resyncWhenQuiet, showText, teardown } from "./ui";

/** The traits every run widget syncs (Python: `RunWidget` in widgets/_run.py). */
export type RunState = Pick<BatchRunState, "error" | "status" | "detail" | "total" | "completed" | "failed" | "reused" | "progress">;

const STATUS_TEXT: Record<RunState["status"], string> = {
  queued: "Queued",
  running: "Running",
  done: "Done",
  cancelled: "Stopped — Resume goes on where it stopped",
  failed: "Failed",
};

/** The traits whose change redraws every run view. */
const RUN_TRAITS = ["status", "progress", "detail", "error"];

/** How the shared part of a run view looks and what it shows between the figures and Stop. */
export interface RunLayout {
  /** The root's class ("llmw-batch"). */
  className: string;
  /** The heading ("Batch run"). */
  title: string;
  /** What shows between the figures and the error line. */
  body: Node[];
  /** Buttons after Stop and Resume. */
  actions?: HTMLElement[];
}

/** The shared part of a run view: build it, `mount` it, `update` it with the view, `listen`. */
export class RunView {
  readonly notices = new Notices();
  readonly requests: Requests;
  /** The line of figures: each view writes its own (see `counts`). */
  readonly figures: HTMLElement;
  readonly stop: HTMLButtonElement;
  readonly resume: HTMLButtonElement;
  root: HTMLElement = h("div");
  private readonly fill = h("div", { class: "llmw-bar-fill" });
  private readonly bar: HTMLElement;
  private readonly percent = h("span", { class: "llmw-percent llmw-num" });
  private readonly badge = h("span", { class: "llmw-badge" });
  private readonly detail = h("div", { class: "llmw-figures", role: "status" });
  private readonly errorLine = h("div", { class: "llmw-error", role: "alert" });
  private readonly watch: { heard: () => void; stop: () => void };

  /** `what` names the run in labels ("Batch" progress, "Batch" figures); `redraw` updates the
   * whole view (when a request settles). */
  constructor(
    private readonly model: AnyModel<RunState>,
    what: string,
    redraw: () => void,
  ) {
    this.requests = new Requests(model, redraw);
    const range = { "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 };
    this.bar = h("div", { class: "llmw-bar", role: "progressbar", "aria-label": `${what} progress`, ...range }, this.fill);
    this.figures = h("div", { class: "llmw-figures llmw-num", "aria-label": `${what} figures` });
    this.stop = this.requests.button("Stop", () => ({ type: "stop" }));
    this.resume = this.requests.button("Resume", () => ({ type: "resume" }), "llmw-primary");
    this.watch = resyncWhenQuiet(this.requests, () => this.running(), 3000);
  }

  /** Put the view together in `el`. */
  mount(el: HTMLElement, layout: RunLayout): void {
    this.root = h(
      "div",
      { class: `llmw ${layout.className}` },
      h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, layout.title), this.badge),
      h("div", { class: "llmw-progress-row" }, this.bar, this.percent),
      this.figures,
      this.detail,
      ...layout.body,
      this.errorLine,
      h("div", { class: "llmw-actions" }, this.stop, this.resume, ...(layout.actions ?? [])),
      this.notices.el,
    );
    connectionLine(this.root, this.requests);
    el.append(this.root);
  }

  /** Whether the run is queued or running. */
  running(): boolean {
    const status = this.model.get("status");
    return status === "running" || status === "queued";
  }

  /** The start of the figures line: "N of M `unit`", failed, and `reused` (by default, how
   * many were reused from an earlier run); empty parts are "". */
  counts(unit: string, reused?: string): string[] {
    const { model } = this;
    return [
      `${model.get("completed")} of ${model.get("total")} ${unit}`,
      model.get("failed") ? `${model.get("failed")} failed` : "",
      reused ?? (model.get("reused") ? `${model.get("reused")} reused from an earlier run` : ""),
    ];
  }

  /** Show the shared part of the state: progress, badge, what the run waits for, Stop / Resume,
   * the error. */
  update(): void {
    this.watch.heard();
    const status = this.model.get("status");
    const value = this.model.get("progress") || 0;
    this.fill.style.width = `${value}%`;
    this.bar.setAttribute("aria-valuenow", value.toFixed(1));
    this.percent.textContent = `${Math.floor(value)}%`;
    this.badge.textContent = STATUS_TEXT[status] ?? status;
    this.badge.className = `llmw-badge llmw-badge-${status}`;
    showText(this.detail, this.running() ? this.model.get("detail") : "");
    if (!this.stop.hasAttribute("aria-busy")) this.stop.disabled = !this.running();
    if (!this.resume.hasAttribute("aria-busy")) this.resume.disabled = this.running() || status === "done";
    showText(this.errorLine, this.model.get("error"));
  }

  /** Run `redraw` now, on every change of the shared traits and of `traits`, and hear custom
   * messages; returns what anywidget calls to take the view down. */
  listen(redraw: () => void, traits: string[]): () => void {
    const handlers: Record<string, (...args: any[]) => void> = { "msg:custom": customMessages(this.notices, this.requests) };
    for (const name of [...RUN_TRAITS, ...traits]) handlers[`change:${name}`] = redraw;
    const unlisten = listen(this.model, handlers);
    redraw();
    return teardown(this.root, this.notices, this.requests, () => (unlisten(), this.watch.stop()));
  }
}
