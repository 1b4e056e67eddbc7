// Tool-call cards in the Chat's assistant turns: the function's name and arguments, then its
// result (folded) or error, its time; Approve / Deny while a call waits (approve="ask").
import type { ChatMessage, ChatRequest, ToolCallView } from "./protocol";
import { button, h, showText } from "./ui";

const STATUS_WORDS: Record<ToolCallView["status"], string> = {
  waiting: "waits for your approval",
  running: "running…",
  done: "done",
  error: "failed",
  declined: "declined",
  stopped: "stopped",
  "not run": "not run",
};

function argumentsText(args: Record<string, unknown>): string {
  try {
    return JSON.stringify(args);
  } catch {
    return String(args);
  }
}

/** The cards of one Chat view; `send` carries Approve / Deny to Python. */
export class ToolCards {
  constructor(private readonly send: (msg: ChatRequest, busy?: HTMLButtonElement) => void) {}

  /** The block above an assistant turn's answer that holds its cards. */
  slot(turn: HTMLElement): HTMLElement {
    let slot = turn.querySelector<HTMLElement>(".llmw-tools");
    if (!slot) {
      slot = h("div", { class: "llmw-tools", "aria-label": "Tool calls" });
      const blocks = turn.querySelector(".llmw-turn-blocks"); // the Chat's slot above the answer
      if (blocks) blocks.append(slot);
      else turn.insertBefore(slot, turn.querySelector(".llmw-text"));
    }
    return slot;
  }

  /** Show a call on `turn`: a new card, or the card of that id brought up to date. */
  show(turn: HTMLElement, call: ToolCallView): HTMLElement {
    const root = turn.closest(".llmw-transcript") ?? turn;
    let card = [...root.querySelectorAll<HTMLElement>(".llmw-tool-card")].find((c) => c.dataset.callId === call.id);
    if (!card) {
      card = this.card(call);
      this.slot(turn).append(card);
    }
    this.fill(card, call);
    return card;
  }

  /** The cards of a saved conversation: an assistant message's tool_calls and their results. */
  restore(turn: HTMLElement, message: ChatMessage, results: Map<string, string>): void {
    for (const call of message.tool_calls ?? []) {
      let args: Record<string, unknown>;
      try {
        args = JSON.parse(call.function.arguments || "{}");
      } catch {
        args = { "(not JSON)": call.function.arguments };
      }
      const result = results.get(call.id);
      const failed = result !== undefined && result.startsWith("Error: ");
      this.show(turn, {
        id: call.id,
        name: call.function.name,
        arguments: args,
        result: failed ? "" : result ?? "",
        error: failed ? result!.slice(7) : null,
        approved: null,
        seconds: 0,
        status: result === undefined ? "stopped" : failed ? "error" : "done",
        note: "",
        output: "",
      });
    }
  }

  /** Buttons of calls that can no longer be answered (the turn ended) go away. */
  settle(root: HTMLElement): void {
    for (const ask of root.querySelectorAll<HTMLElement>(".llmw-tool-ask")) ask.hidden = true;
  }

  private card(call: ToolCallView): HTMLElement {
    const approve = button("Approve", () => this.send({ type: "approve", call_id: call.id }, approve), "llmw-primary llmw-local");
    const deny = button("Deny", () => this.send({ type: "deny", call_id: call.id }, deny), "llmw-local");
    return h(
      "div",
      { class: "llmw-tool-card", role: "group", "aria-label": `Tool call ${call.name}` },
      h(
        "div",
        { class: "llmw-tool-head" },
        h("span", { class: "llmw-tool-icon", "aria-hidden": "true" }, "ƒ"),
        h("span", { class: "llmw-tool-name" }, call.name),
        h("span", { class: "llmw-tool-server" }),
        h("code", { class: "llmw-tool-args" }),
        h("span", { class: "llmw-tool-status" }),
        h("span", { class: "llmw-tool-time llmw-num" }),
      ),
      h("div", { class: "llmw-tool-ask" }, approve, deny),
      h("details", { class: "llmw-tool-result" }, h("summary", {}, "Result"), h("pre", {})),
      h("details", { class: "llmw-tool-output" }, h("summary", {}, "Printed output"), h("pre", {})),
      h("div", { class: "llmw-tool-error", role: "alert" }),
      h("div", { class: "llmw-tool-note", role: "status" }),
    );
  }

  private fill(card: HTMLElement, call: ToolCallView): void {
    card.dataset.callId = call.id;
    card.dataset.status = call.status;
    const part = (name: string) => card.querySelector<HTMLElement>(`.llmw-tool-${name}`)!;
    part("args").textContent = argumentsText(call.arguments);
    showText(part("server"), call.server ? `on ${call.server}` : "");
    part("status").textContent = STATUS_WORDS[call.status] ?? call.status;
    part("time").textContent = call.seconds ? `${call.seconds < 0.1 ? call.seconds.toFixed(3) : call.seconds.toFixed(1)} s` : "";
    part("ask").hidden = call.status !== "waiting";
    const result = part("result") as HTMLDetailsElement;
    result.hidden = !call.result || call.status === "error";
    result.querySelector("pre")!.textContent = call.result;
    const output = part("output") as HTMLDetailsElement;
    output.hidden = !call.output;
    output.querySelector("pre")!.textContent = call.output ?? "";
    showText(part("error"), call.status === "declined" ? "Declined: the function did not run." : call.error ?? "");
    showText(part("note"), call.note);
  }
}
