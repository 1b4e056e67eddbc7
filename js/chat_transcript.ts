// The Chat's transcript (its DOM: the top of chat.ts): the turns, the answer streaming into it with
// its thinking and tool-call cards, who answered each turn and why it ended, Copy and Copy code.
import type { AnyModel } from "@anywidget/types";
import { assistantTurn, describeTurn, userTurn, type TurnFacts } from "./chat_turns";
import { StreamingMarkdown, renderMarkdown } from "./markdown";
import type { ChatMessage, ChatState, ToolCallView } from "./protocol";
import { ThinkingBlock } from "./thinking";
import type { ToolCards } from "./tool_cards";
import { button, h, type Notices } from "./ui";

/** What a chunk, or a transcript mid-answer, carries of the model's thinking. */
export type ThinkingSoFar = { thinking?: string; partial_thinking?: string; thinking_seconds?: number; thinking_done?: boolean };

/**
 * Put `text` on the clipboard. A host may refuse (an iframe without the permission): then
 * `select()` selects it on the page, a copy command is tried, and the notice says to press Ctrl+C.
 */
async function copy(text: string, select: () => void, notices: Notices): Promise<void> {
  try {
    if (!navigator.clipboard) throw new Error("no clipboard");
    await navigator.clipboard.writeText(text);
    notices.add("success", "Copied to the clipboard.");
    return;
  } catch {
    select();
  }
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  if (copied) notices.add("success", "Copied to the clipboard.");
  else notices.add("info", "This page may not use the clipboard: the text is selected — press Ctrl+C (⌘C on a Mac) to copy it.");
}

function selectContents(node: Node): void {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
}

/** Where the clipboard is refused: the Markdown source, selected, for Ctrl+C. */
function showSource(node: HTMLElement, markdown: string): void {
  node.querySelector(".llmw-copy-source")?.remove();
  const area = h("textarea", { class: "llmw-copy-source", readonly: true, "aria-label": "Markdown source", rows: 6 }) as HTMLTextAreaElement;
  area.value = markdown;
  area.addEventListener("blur", () => area.remove());
  node.append(area);
  area.focus();
  area.select();
}

/** The transcript of one Chat view; `el` is its .llmw-transcript. */
export class Transcript {
  readonly el = h("div", { class: "llmw-transcript", role: "log", "aria-live": "polite", "aria-label": "Transcript" });
  private open: StreamingMarkdown | null = null; // the assistant turn being streamed
  private openNode: HTMLElement | null = null;
  private thought: ThinkingBlock | null = null; // the open turn's thinking
  private readonly sources = new WeakMap<HTMLElement, { text: string }>(); // an answer's Markdown, for Copy
  // per message index: who answered and why it ended, as far as this view saw it
  private readonly facts = new Map<number, TurnFacts>();

  constructor(
    private readonly model: AnyModel<ChatState>,
    private readonly cards: ToolCards,
    private readonly notices: Notices,
  ) {
    this.el.addEventListener("click", (event) => {
      const target = event.target as HTMLElement;
      const copyCode = target.closest?.(".llmw-copy-code");
      const code = copyCode?.closest(".llmw-code")?.querySelector("code");
      if (code) void copy((code.textContent ?? "").replace(/\n$/, ""), () => selectContents(code), notices);
    });
  }

  /** Whether an answer is streaming into the transcript now. */
  get streaming(): boolean {
    return this.open !== null;
  }

  /** Its turns (.llmw-msg), first to last. */
  turns(): HTMLElement[] {
    return [...this.el.querySelectorAll<HTMLElement>(".llmw-msg")];
  }

  /** Whether it shows its end: then what is added keeps it there (`toEnd`). */
  atBottom(): boolean {
    return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 40;
  }

  toEnd(): void {
    this.el.scrollTop = this.el.scrollHeight;
  }

  addTurn(role: string, content: string, turnFacts?: TurnFacts, reasoning = ""): HTMLElement {
    const follow = this.atBottom();
    const turn = role === "assistant" ? assistantTurn(content, turnFacts ?? { label: "", detail: "", stop: "" }) : userTurn(content);
    const node = turn.node;
    if (role === "assistant") {
      const source = { text: content };
      this.sources.set(node, source);
      const copyButton = button("Copy", () => {
        const markdown = this.openNode === node && this.open ? this.open.text : source.text;
        void copy(markdown, () => showSource(node, markdown), this.notices);
      }, "llmw-local llmw-quiet");
      turn.actions.append(copyButton);
      if (reasoning) turn.node.querySelector(".llmw-turn-blocks")!.append(new ThinkingBlock(reasoning, false).el);
    }
    node.dataset.index = String(this.el.querySelectorAll(".llmw-msg").length);
    this.el.querySelector(".llmw-empty")?.remove();
    this.el.append(node);
    if (follow) this.toEnd();
    return node;
  }

  /** "No messages yet." when there are none. */
  empty(): void {
    if (!this.el.childElementCount) this.el.append(h("div", { class: "llmw-empty" }, "No messages yet."));
  }

  /** Open the answer that streams next, by the model answering now. */
  openAssistant(content = ""): void {
    const index = this.el.querySelectorAll(".llmw-msg").length;
    this.facts.set(index, { label: this.model.get("model_label") || this.model.get("model_name"), detail: this.model.get("model_detail"), stop: "" });
    this.openNode = this.addTurn("assistant", "", this.facts.get(index));
    this.openNode.classList.add("llmw-streaming");
    this.open = new StreamingMarkdown(this.openNode.querySelector(".llmw-text")!);
    if (content) this.open.append(content);
  }

  /** Thinking streamed into the open turn (a block above its answer, made on first need). */
  showThinking(msg: ThinkingSoFar): void {
    const text = msg.thinking ?? msg.partial_thinking;
    if (text === undefined || !this.openNode) return;
    if (!this.thought) {
      this.thought = new ThinkingBlock("", !msg.thinking_done, msg.thinking_seconds ?? 0);
      this.openNode.querySelector(".llmw-turn-blocks")!.append(this.thought.el);
    }
    this.thought.append(text, msg.thinking_seconds);
    if (msg.thinking_done) this.thought.finish(msg.thinking_seconds);
  }

  /** A `chunk`: its thinking and answer text into the open answer (opened if none is). */
  chunk(msg: { text: string } & ThinkingSoFar): void {
    const follow = this.atBottom();
    if (!this.open) this.openAssistant();
    this.showThinking(msg);
    if (msg.text) this.open!.append(msg.text);
    if (follow) this.toEnd();
  }

  /** A tool call's card on the open answer (opened if none is). */
  showCall(call: ToolCallView): void {
    if (!this.open) this.openAssistant();
    this.cards.show(this.openNode!, call);
  }

  /** The open answer ended, for `reason` (a stop_reason; "" for a natural end). */
  closeAssistant(reason: string, seconds?: number): void {
    if (this.open && this.openNode) {
      this.open.finish();
      this.openNode.classList.remove("llmw-streaming");
      const turnFacts = this.facts.get(Number(this.openNode.dataset.index));
      if (turnFacts) describeTurn(this.openNode, { ...turnFacts, stop: reason });
      if (turnFacts) turnFacts.stop = reason;
    }
    this.thought?.finish(seconds);
    this.open = this.openNode = this.thought = null;
  }

  /** The whole conversation, in place of what is shown (an open answer is dropped). */
  show(messages: ChatMessage[]): void {
    this.el.replaceChildren();
    this.thought?.stop();
    this.open = this.openNode = this.thought = null;
    for (const index of [...this.facts.keys()]) if (index >= messages.length) this.facts.delete(index);
    const results = new Map(messages.filter((m) => m.role === "tool").map((m) => [m.tool_call_id ?? "", m.content]));
    let turn: { node: HTMLElement; text: string } | null = null; // an answer that called tools goes on
    for (const m of messages) {
      if (m.role === "system" || m.role === "tool") continue;
      if (m.role === "assistant" && turn) {
        turn.text += m.content;
        turn.node.querySelector(".llmw-text")!.replaceChildren(renderMarkdown(turn.text));
        this.sources.get(turn.node)!.text = turn.text;
      } else {
        const index = this.el.querySelectorAll(".llmw-msg").length;
        turn = { node: this.addTurn(m.role, m.content, this.facts.get(index), m.reasoning_content), text: m.content };
      }
      if (m.role === "assistant" && m.tool_calls?.length) this.cards.restore(turn.node, m, results);
      else turn = null;
    }
    this.toEnd();
  }

  /** Mark why `answer` ended: known from the kernel even in a view that did not see it end. */
  markEnd(answer: HTMLElement, reason: string): void {
    const index = Number(answer.dataset.index);
    const turnFacts = this.facts.get(index) ?? { label: "", detail: "", stop: "" };
    this.facts.set(index, { ...turnFacts, stop: reason });
    describeTurn(answer, this.facts.get(index)!);
  }

  /** Stop the open thinking block's clock (the view goes away). */
  stop(): void {
    this.thought?.stop();
  }
}
