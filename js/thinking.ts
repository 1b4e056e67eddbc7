// A thinking model's reasoning in an assistant turn: a folded block above the answer, "Thinking…
// 12 s" while it streams and "Thought for 12 s" after; its button unfolds it. The thinking is
// Markdown under the same no-HTML rules as answers. Also the Chat's "Think" switch.
import type { AnyModel } from "@anywidget/types";
import { StreamingMarkdown } from "./markdown";
import type { ChatState } from "./protocol";
import { h } from "./ui";

let blocks = 0;

export class ThinkingBlock {
  readonly el: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private readonly name = h("span");
  private readonly body: HTMLElement;
  private readonly md: StreamingMarkdown;
  private running: boolean;
  private seconds: number | null;
  private since = performance.now(); // when `seconds` was last told
  private timer = 0;

  /** `running`: the model is thinking now; `seconds`: how long it has thought, when known. */
  constructor(text: string, running: boolean, seconds: number | null = null) {
    const id = `llmw-thinking-${++blocks}`;
    this.running = running;
    this.seconds = seconds;
    const arrow = h("span", { class: "llmw-thinking-arrow", "aria-hidden": "true" });
    this.toggle = h("button", { type: "button", class: "llmw-thinking-toggle", "aria-expanded": "false", "aria-controls": id }, arrow, this.name);
    this.body = h("div", { class: "llmw-thinking-body llmw-md", id, role: "region", "aria-label": "The model's thinking" });
    this.body.hidden = true;
    this.el = h("div", { class: "llmw-thinking" }, this.toggle, this.body);
    this.toggle.addEventListener("click", () => this.fold(!this.body.hidden));
    this.md = new StreamingMarkdown(this.body);
    if (text) this.md.append(text);
    if (running) this.timer = window.setInterval(() => this.label(), 1000);
    else this.md.finish();
    this.label();
  }

  get text(): string {
    return this.md.text;
  }

  /** More thinking streamed in; `seconds` as the kernel counts them. */
  append(text: string, seconds?: number): void {
    if (text) this.md.append(text);
    this.tell(seconds);
    this.label();
  }

  /** The thinking is over (the answer began, or the turn ended). */
  finish(seconds?: number): void {
    this.tell(seconds);
    if (!this.running) return;
    this.running = false;
    window.clearInterval(this.timer);
    this.md.finish();
    this.label();
  }

  /** Let go of the timer (the view is torn down). */
  stop(): void {
    window.clearInterval(this.timer);
  }

  private fold(folded: boolean): void {
    this.body.hidden = folded;
    this.toggle.setAttribute("aria-expanded", String(!folded));
  }

  private tell(seconds?: number): void {
    if (seconds === undefined || seconds === null) return;
    this.seconds = seconds;
    this.since = performance.now();
  }

  private label(): void {
    const base = this.seconds ?? 0;
    const shown = this.running ? base + (performance.now() - this.since) / 1000 : base;
    const whole = Math.max(0, Math.round(shown));
    if (this.running) this.name.textContent = `Thinking… ${whole} s`;
    else this.name.textContent = this.seconds === null ? "Thought" : `Thought for ${whole} s`;
  }
}

/** The "Think" switch: on / off for the next turns (`think` True / False), shown only when the
 * model can think. Returns the switch's label and a refresh function. */
export function thinkSwitch(model: AnyModel<ChatState>): { el: HTMLElement; refresh: () => void } {
  const box = h("input", { type: "checkbox", role: "switch", "aria-label": "Think" }) as HTMLInputElement;
  const el = h("label", { class: "llmw-check llmw-think-switch", title: "Let the model think before it answers" }, box, "Think");
  box.addEventListener("change", () => {
    model.set("think", box.checked);
    model.save_changes();
  });
  const refresh = () => {
    el.hidden = !model.get("can_think");
    box.checked = model.get("think") !== false; // None: the model's default, which is to think
  };
  refresh();
  return { el, refresh };
}
