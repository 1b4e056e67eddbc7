// Small DOM helpers shared by the widgets: element creation, notices, number formatting.
import type { AnyModel } from "@anywidget/types";
import type { Ack } from "./protocol";

type Attrs = Record<string, string | number | boolean | undefined>;

/** Create an element with attributes (aria-*, class, ...) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

/** A button that calls `onClick`; its text is its accessible name. */
export function button(label: string, onClick: () => void, className = ""): HTMLButtonElement {
  const b = h("button", { type: "button", class: `llmw-button ${className}`.trim() }, label);
  b.addEventListener("click", onClick);
  return b;
}

/** Put `text` in a message line and show it only when there is something to say. */
export function showText(node: HTMLElement, text: string): void {
  node.textContent = text;
  node.hidden = !text;
}

/** Show or hide an element (hidden elements leave the accessibility tree). */
export function show(node: HTMLElement, visible: boolean): void {
  node.hidden = !visible;
}

/** A stack of short notices that vanish after a few seconds (errors stay longer). */
export class Notices {
  readonly el = h("div", { class: "llmw-notices" });
  private timers = new Set<number>();

  add(level: string, text: string): void {
    const role = level === "error" ? "alert" : "status";
    const item = h("div", { class: `llmw-notice llmw-notice-${level}`, role }, text);
    this.el.append(item);
    while (this.el.childElementCount > 3) this.el.firstElementChild?.remove();
    const timer = window.setTimeout(
      () => {
        item.remove();
        this.timers.delete(timer);
      },
      level === "error" ? 8000 : 4000,
    );
    this.timers.add(timer);
  }

  /** A "msg:custom" handler that shows the notices Python sends (`{type: "notice", ...}`). */
  readonly onMessage = (msg: unknown): void => {
    const notice = msg as { type?: string; level?: string; text?: string } | null;
    if (notice && notice.type === "notice") this.add(notice.level ?? "info", notice.text ?? "");
  };

  dispose(): void {
    for (const t of this.timers) window.clearTimeout(t);
    this.timers.clear();
  }
}

/** Subscribe to model events and return one function that removes them all. */
export function listen(model: AnyModel<any>, handlers: Record<string, (...args: any[]) => void>): () => void {
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  return () => {
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
  };
}

const ACK_TIMEOUT_MS = 10000; // a button stays busy at most this long without an answer
const HELLO_TIMEOUT_MS = 4000; // a view that hears nothing back by then says it is not connected

/**
 * Requests to the kernel that carry a `request_id`: the button that sent one stays disabled
 * (`aria-busy`) until the kernel's `ack` arrives, so a double click cannot send it twice.
 */
export class Requests {
  private pending = new Map<string, (answered: boolean) => void>();
  private count = 0;
  private readonly prefix = Math.random().toString(36).slice(2, 10);
  /** Called with true when the kernel answers, false when a hello went unanswered. */
  onConnection: (connected: boolean) => void = () => {};

  private stops: (() => void)[] = [];

  constructor(
    readonly model: AnyModel<any>,
    private readonly onSettle: () => void = () => {},
  ) {}

  send(msg: object, busy?: HTMLButtonElement, timeoutMs = ACK_TIMEOUT_MS): void {
    const id = `${this.prefix}-${++this.count}`;
    if (busy) {
      busy.disabled = true;
      busy.setAttribute("aria-busy", "true");
    }
    const timer = window.setTimeout(() => this.pending.get(id)?.(false), timeoutMs);
    const settle = (answered: boolean) => {
      window.clearTimeout(timer);
      this.pending.delete(id);
      if (busy) {
        busy.removeAttribute("aria-busy");
        busy.disabled = false;
      }
      if (answered) this.onConnection(true);
      this.onSettle();
    };
    this.pending.set(id, settle);
    if (this.gone || !kernelAlive(this.model)) {
      settle(false);
      this.refuse();
      return;
    }
    try {
      this.model.send({ ...msg, request_id: id });
    } catch {
      settle(false); // the host's comm throws once its kernel is disposed ("Cannot send")
      this.refuse();
    }
  }

  /** True once the kernel behind this view is known to be gone (restarted, shut down). */
  gone = false;

  /** The kernel went away: say so, and refuse every later click. */
  refuse(): void {
    this.gone = true;
    this.onConnection(false);
  }

  /**
   * Ask for the state once, to learn whether a kernel answers: a saved notebook or an HTML export
   * renders the last state, but nothing reaches a kernel from there.
   */
  hello(): void {
    const id = `${this.prefix}-${this.count + 1}`;
    this.send({ type: "sync" }, undefined, HELLO_TIMEOUT_MS);
    const settle = this.pending.get(id);
    if (settle) {
      this.pending.set(id, (answered) => {
        settle(answered);
        if (!answered) this.onConnection(false);
      });
    }
  }

  /** A button whose click sends `message()` and that is busy until the kernel answers. */
  button(label: string, message: () => object, className = ""): HTMLButtonElement {
    const b = button(label, () => this.send(message(), b), className);
    return b;
  }

  /** A "msg:custom" handler that settles a request when its `ack` arrives (a late one too:
   * any answer means a kernel is there). */
  readonly onMessage = (msg: unknown): void => {
    const ack = msg as Partial<Ack> | null;
    if (!ack || ack.type !== "ack" || typeof ack.request_id !== "string") return;
    const settle = this.pending.get(ack.request_id);
    if (settle) settle(true);
    else this.onConnection(true);
  };

  /** Stop `stop` with this view. */
  watch(stop: () => void): void {
    this.stops.push(stop);
  }

  dispose(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.onConnection = () => {};
    for (const settle of [...this.pending.values()]) settle(false);
  }
}

/** The bounds the kernel declares for a number the view edits (the widget's `limits` trait). */
export function bounds(model: AnyModel<any>, name: string): [number, number] {
  const limit = (model.get("limits") || {})[name];
  return Array.isArray(limit) && limit.length === 2 ? [Number(limit[0]), Number(limit[1])] : [-Infinity, Infinity];
}

/**
 * A number input bound to the trait `name`: a value within the kernel's bounds is saved, any
 * other is put back (Python checks again). Returns the input; `refresh()` shows the trait.
 */
export function numberField(model: AnyModel<any>, name: string, label: string, step: string, integer: boolean) {
  const [min, max] = bounds(model, name);
  const field = h("input", { type: "number", step, "aria-label": label }) as HTMLInputElement;
  if (Number.isFinite(min)) field.min = String(min);
  if (Number.isFinite(max)) field.max = String(max);
  const refresh = () => {
    if (document.activeElement !== field) field.value = String(model.get(name));
  };
  field.addEventListener("change", () => {
    const value = integer ? Math.round(Number(field.value)) : Number(field.value);
    const [low, high] = bounds(model, name);
    if (Number.isFinite(value) && value >= low && value <= high) {
      model.set(name, value);
      model.save_changes();
    } else {
      field.value = String(model.get(name));
    }
  });
  field.value = String(model.get(name));
  return { field, refresh };
}

/**
 * The line a view shows when no kernel answers, until one does: first in the view's root (a tall
 * widget's bottom is often off-screen), where it stays in sight while the widget scrolls. Then
 * the root is `llmw-disconnected`: its controls are disabled and every badge and pill greyed
 * (styles.css): a "Loaded" or "in this kernel" says nothing of a kernel that is gone.
 * Returns the line.
 */
export function connectionLine(root: HTMLElement, requests: Requests): HTMLElement {
  const line = h("div", { class: "llmw-offline", role: "status" }, OFFLINE_TEXT);
  line.hidden = true;
  root.prepend(line);
  requests.onConnection = (answered) => {
    const connected = answered && !requests.gone;
    if (!connected && !line.hidden) flash(line); // a click that could not be delivered
    line.hidden = connected;
    root.classList.toggle("llmw-disconnected", !connected);
    // controls that need no kernel (.llmw-local: Copy) keep working
    for (const control of root.querySelectorAll<HTMLElement>("button:not(.llmw-local), input, textarea, select")) {
      if (connected) control.removeAttribute("aria-disabled");
      else control.setAttribute("aria-disabled", "true");
    }
  };
  const model = requests.model;
  requests.watch(
    watchKernel(model, {
      gone: () => requests.refuse(),
      // a comm marked dead with a kernel that looks alive: ask, rather than guess
      commDead: () => (kernelAlive(model) ? requests.hello() : requests.refuse()),
      unsure: () => requests.onConnection(false),
      back: () => requests.hello(),
    }),
  );
  requests.hello();
  return line;
}

export const OFFLINE_TEXT = "Not connected to a running kernel — run the cell again.";
const KERNEL_GONE = new Set(["dead", "restarting", "autorestarting", "terminating"]);
const KERNEL_RUNNING = new Set(["idle", "busy"]);
const CLASSIC_GONE = "kernel_restarting.Kernel kernel_dead.Kernel kernel_killed.Kernel";
const CLASSIC_RUNNING = "kernel_idle.Kernel kernel_busy.Kernel";

function flash(node: HTMLElement): void {
  node.classList.remove("llmw-flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("llmw-flash");
}

/** The kernel connection behind a view, where its host's widget manager exposes one (JupyterLab
 * and Notebook 7: `manager.kernel`; classic Notebook: `manager.comm_manager.kernel`). */
function kernelOf(model: AnyModel<any>): any {
  const manager = (model as any).widget_manager;
  return manager?.kernel ?? manager?.comm_manager?.kernel ?? null;
}

const rendered = new WeakMap<object, any>();

/** Whether the kernel this view was rendered with can still be reached (checked before a send:
 * a shut-down kernel is disposed, or another one took its place). */
function kernelAlive(model: AnyModel<any>): boolean {
  const kernel = kernelOf(model);
  const first = rendered.get(model);
  if (first && kernel !== first) return false;
  if (!kernel) return !first;
  return !(kernel.isDisposed || KERNEL_GONE.has(kernel.status));
}

/** What a view does when its kernel changes state (see `watchKernel`). */
export interface KernelEvents {
  /** The kernel this view spoke to is gone for good: restarted, replaced, shut down. */
  gone: () => void;
  /** ipywidgets marked the view's comm dead (`comm_live_update`). */
  commDead: () => void;
  /** The connection to the kernel dropped (the kernel may still be there: ask again on `back`). */
  unsure: () => void;
  /** The connection is back after `unsure`. */
  back: () => void;
}

/**
 * Watch the kernel behind a view. A kernel seen running (idle or busy) is gone when it:
 * - says "restarting" / "autorestarting" / "terminating" / "dead" (a restart from this page's menu;
 *   the server's "restarting" after it auto-restarted a crashed kernel; a shut-down kernel's
 *   socket that cannot reconnect), or its connection is disposed or gives up ("disconnected");
 * - answers a `shutdown_request` (its "idle" status with that parent: a shutdown or a restart
 *   asked by any client — the server, for a REST shutdown or restart, sends one), or says
 *   "starting", or a status message comes from another kernel session (`header.session`): a new
 *   kernel process took its place — a restart through the server's REST API, from another tab or
 *   window of the same notebook or a kernel manager, is seen by this page only so;
 * - ipywidgets 7 and 8 mark every model's comm dead on a restart (`comm_live_update`, what
 *   anywidget passes on): `commDead`;
 * - the classic Notebook announces restarts, deaths and a new kernel's "starting" on its events;
 *   its status messages (session, shutdown_request) are heard through its iopub status handler.
 * A connection that drops ("unknown" in JupyterLab, `kernel_disconnected` in the classic
 * Notebook) is `unsure` until it is back. A view rendered on a kernel that is still starting (a
 * notebook opening on a kernel) starts watching for "starting" once the kernel is idle or busy.
 * Returns a function that stops watching.
 */
export function watchKernel(model: AnyModel<any>, on: KernelEvents): () => void {
  const stops: (() => void)[] = [];
  let stopped = false;
  const stop = () => {
    stopped = true;
    stops.splice(0).forEach((s) => s());
  };
  const onLive = () => on.commDead();
  model.on("comm_live_update" as any, onLive);
  stops.push(() => model.off("comm_live_update" as any, onLive));
  const kernel = kernelOf(model);
  if (kernel && typeof kernel === "object") rendered.set(model, kernel);
  let running = KERNEL_RUNNING.has(kernel?.status);
  let unsure = false;
  let session = "";
  const goneOnce = () => {
    if (stopped) return;
    stop();
    on.gone();
  };
  const drop = () => {
    if (!running || unsure) return;
    unsure = true;
    on.unsure();
  };
  const up = () => {
    running = true;
    if (!unsure) return;
    unsure = false;
    on.back();
  };
  const connect = (signal: any, slot: (...args: any[]) => void) => {
    if (!signal?.connect || !signal?.disconnect) return;
    signal.connect(slot);
    stops.push(() => signal.disconnect(slot));
  };
  connect(kernel?.statusChanged, (_: unknown, value: string) => {
    if (KERNEL_GONE.has(value)) goneOnce();
    else if (KERNEL_RUNNING.has(value)) up();
    else if (value === "starting" && running) goneOnce();
    else if (value === "unknown") drop();
  });
  connect(kernel?.connectionStatusChanged, (_: unknown, value: string) => {
    if (value === "disconnected") goneOnce();
    else if (value === "connected" && unsure) {
      unsure = false;
      on.back();
    }
  });
  const statusMessage = (msg: any) => {
    const state = msg?.header?.msg_type === "status" ? msg.content?.execution_state : "";
    // a kernel that answers a shutdown_request (a shutdown or restart, from any client) ends
    if (state === "idle" && msg.parent_header?.msg_type === "shutdown_request") return goneOnce();
    // the kernel's own status messages carry its session; the server's ("restarting", "dead") not
    const id = msg?.header?.session;
    if (!(KERNEL_RUNNING.has(state) || state === "starting") || typeof id !== "string" || !id) return;
    if (!session) session = id;
    else if (id !== session) goneOnce();
  };
  connect(kernel?.iopubMessage, (_: unknown, msg: any) => statusMessage(msg));
  stops.push(tapClassicStatus(kernel, statusMessage));
  connect(kernel?.disposed, goneOnce);
  const events = (model as any).widget_manager?.notebook?.events;
  if (events?.on && events?.off) {
    const handlers: [string, () => void][] = [
      [CLASSIC_GONE, goneOnce],
      [CLASSIC_RUNNING, up],
      ["kernel_starting.Kernel", () => running && goneOnce()],
      ["kernel_disconnected.Kernel", drop],
      ["kernel_connected.Kernel", () => unsure && up()],
    ];
    for (const [names, handler] of handlers) {
      events.on(names, handler);
      stops.push(() => events.off(names, handler));
    }
  }
  return stop;
}

const classicTaps = new WeakMap<object, Set<(msg: unknown) => void>>();

/** Hear the classic Notebook kernel's status messages (its events carry no message: a restart
 * through the REST API shows only as a new kernel session, its "starting" status may come before
 * the server listens). The kernel has one handler per message type: it is wrapped once. */
function tapClassicStatus(kernel: any, listener: (msg: unknown) => void): () => void {
  if (typeof kernel?.get_iopub_handler !== "function" || typeof kernel?.register_iopub_handler !== "function") {
    return () => {};
  }
  let taps = classicTaps.get(kernel);
  if (!taps) {
    const original = kernel.get_iopub_handler("status");
    if (typeof original !== "function") return () => {};
    const listeners = new Set<(msg: unknown) => void>();
    kernel.register_iopub_handler("status", (msg: unknown) => {
      for (const tap of [...listeners]) {
        try {
          tap(msg);
        } catch (error) {
          console.error(error);
        }
      }
      return original(msg);
    });
    classicTaps.set(kernel, (taps = listeners));
  }
  const set = taps;
  set.add(listener);
  return () => set.delete(listener);
}

/**
 * While `busy()` (a job runs), ask for the whole state whenever nothing arrived for `quietMs`:
 * a host that drops or delays background updates (Colab, googlecolab/colabtools#3373) still
 * shows progress. `heard()` marks an arrival. Returns a function that stops the watch.
 */
export function resyncWhenQuiet(requests: Requests, busy: () => boolean, quietMs: number) {
  let last = Date.now();
  const timer = window.setInterval(() => {
    if (busy() && Date.now() - last > quietMs) {
      last = Date.now();
      requests.send({ type: "sync" });
    }
  }, Math.max(250, quietMs / 2));
  return { heard: () => (last = Date.now()), stop: () => window.clearInterval(timer) };
}

/** What a view returns to anywidget: removes its listeners, timers, pending requests and DOM. */
export function teardown(root: HTMLElement, notices: Notices, requests: Requests, unlisten: () => void): () => void {
  return () => {
    unlisten();
    notices.dispose();
    requests.dispose();
    root.remove();
  };
}

/** One "msg:custom" handler for notices and request answers (and the view's own messages). */
export function customMessages(notices: Notices, requests: Requests, own: (msg: any) => void = () => {}) {
  return (msg: unknown): void => {
    notices.onMessage(msg);
    requests.onMessage(msg);
    own(msg);
  };
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return "0 B";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(n >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatSpeed(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : "";
}

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 1) return "<1 s left";
  if (seconds < 60) return `${Math.round(seconds)} s left`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s left`;
  return `${Math.floor(m / 60)} h ${m % 60} min left`;
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}
