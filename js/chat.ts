// Chat view: transcript with streamed answers rendered as Markdown, input, Send / Stop / Clear,
// Regenerate / Edit, Copy and Copy code, sampling settings. The transcript is chat_transcript.ts's,
// one turn's DOM chat_turns.ts's.
//
// The DOM (classes; later features add to the marked slots, never restructure):
//   .llmw.llmw-chat
//     .llmw-head            "Chat" and .llmw-badge: the answering model (tooltip: its detail)
//     .llmw-transcript      role=log "Transcript"; grows with its content up to a bound, then scrolls
//       .llmw-empty         "No messages yet."
//       .llmw-msg.llmw-msg-user          a right-aligned bubble
//         .llmw-turn-body > .llmw-text   the person's words, plain text
//         .llmw-turn-foot > .llmw-turn-actions   Edit (last message) — shown on hover / focus
//       .llmw-msg.llmw-msg-assistant     [data-stop=aborted|length|error] once it ended early
//         .llmw-turn-head > .llmw-role   the model that answered (tooltip: repo, file, GGUF name)
//         .llmw-turn-body
//           .llmw-turn-blocks            SLOT above the answer: thinking block, tool-call cards
//           .llmw-text.llmw-md           the answer (StreamingMarkdown while .llmw-streaming)
//         .llmw-turn-foot
//           .llmw-stop-mark              "Stopped by you", "Cut at the token limit (max_tokens)"
//           .llmw-stats                  "Answer statistics", on the last answer once it ended
//           .llmw-turn-actions           Copy, Regenerate (last answer) — shown on hover / focus
//     status lines          queued (.llmw-figures), .llmw-error, editing
//     .llmw-composer        the Message box and .llmw-actions: Clear · Stop the running answer,
//                           Stop, Send
//     .llmw-settings        <details> Settings
//     .llmw-notices, then the connection line(s) (not connected / kernel gone)
import type { AnyModel, RenderProps } from "@anywidget/types";
import { Transcript, type ThinkingSoFar } from "./chat_transcript";
import { statsText } from "./chat_turns";
import { modelHints } from "./model_hints";
import { thinkSwitch } from "./thinking";
import type { ChatMessage, ChatRequest, ChatState, GenerationStats, Notice, ToolCallView } from "./protocol";
import { ToolCards } from "./tool_cards";
import { Notices, Requests, button, connectionLine, customMessages, h, listen, numberField, resyncWhenQuiet, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<ChatState>;
type Incoming =
  | Notice
  | ({ type: "transcript"; messages: ChatMessage[]; partial: string | null; calls?: ToolCallView[] } & ThinkingSoFar)
  | { type: "tool_call"; call: ToolCallView }
  | { type: "turn_start"; role: "user"; content: string }
  | ({ type: "chunk"; text: string } & ThinkingSoFar)
  | { type: "done"; stats: Partial<GenerationStats> };

/** For benchmarks/chat_render.py: called after each chunk is shown, with its start time. */
type ChunkProbe = (start: number) => void;

/** The Settings block (system prompt, sampling, context full, the model's hints); `sync()` shows
 * the traits again. */
function settingsPanel(model: Model, hints: ReturnType<typeof modelHints>) {
  const numberInput = (name: "temperature" | "top_p" | "max_tokens", label: string, step: string) => {
    const { field, refresh } = numberField(model, name, label, step, name === "max_tokens");
    return { cells: [h("label", {}, label), field] as const, refresh };
  };
  const systemPrompt = h("textarea", { rows: 2, "aria-label": "System prompt" }) as HTMLTextAreaElement;
  systemPrompt.value = model.get("system_prompt");
  systemPrompt.addEventListener("change", () => {
    model.set("system_prompt", systemPrompt.value);
    model.save_changes();
  });
  const temperature = numberInput("temperature", "Temperature", "0.05");
  const topP = numberInput("top_p", "Top-p", "0.01");
  const maxTokens = numberInput("max_tokens", "Max tokens", "1");
  const trimHistory = h("input", { type: "checkbox", "aria-label": "Leave out the oldest turns when the context is full" }) as HTMLInputElement;
  trimHistory.checked = model.get("trim_history");
  trimHistory.addEventListener("change", () => {
    model.set("trim_history", trimHistory.checked);
    model.save_changes();
  });
  const el = h(
    "details",
    { class: "llmw-settings" },
    h("summary", {}, "Settings"),
    h(
      "div",
      { class: "llmw-settings-grid" },
      h("label", {}, "System prompt"),
      systemPrompt,
      ...temperature.cells,
      ...topP.cells,
      ...maxTokens.cells,
      h("label", {}, "Context full"),
      h("label", { class: "llmw-check" }, trimHistory, "leave out the oldest turns"),
      ...hints.settings,
    ),
  );
  const sync = () => {
    systemPrompt.value = model.get("system_prompt");
    temperature.refresh();
    topP.refresh();
    maxTokens.refresh();
    trimHistory.checked = model.get("trim_history");
  };
  return { el, sync };
}

/** One Chat view: its parts, what it sent, and whether the last message is being edited. */
class ChatView {
  readonly notices = new Notices();
  readonly requests: Requests;
  readonly transcript: Transcript;
  readonly root: HTMLElement;
  readonly settings: ReturnType<typeof settingsPanel>;
  private readonly cards: ToolCards;
  private readonly hints: ReturnType<typeof modelHints>;
  private readonly think: ReturnType<typeof thinkSwitch>;
  private readonly modelName = h("span", { class: "llmw-badge llmw-model" });
  private readonly input = h("textarea", { class: "llmw-input", "aria-label": "Message", rows: 2, placeholder: "Message the model — Enter sends, Shift+Enter for a new line" });
  private readonly sendButton = button("Send", () => this.submit(), "llmw-primary");
  private readonly editButton = button("Edit", () => this.startEdit(), "llmw-quiet");
  private readonly editLine = h("div", { class: "llmw-figures llmw-editing", role: "status" }, "Editing your last message: Send replaces it and its answer. ", button("Cancel edit", () => this.stopEdit()));
  private readonly regenerateButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly stopRunningButton: HTMLButtonElement;
  private readonly waiting = h("div", { class: "llmw-figures", role: "status" });
  private readonly stats = h("span", { class: "llmw-stats llmw-num", "aria-label": "Answer statistics" });
  private readonly errorLine = h("div", { class: "llmw-error", role: "alert" });
  private readonly watch: ReturnType<typeof resyncWhenQuiet>;
  private editing = false;
  private sent: string | null = null; // what Send asked for: it leaves the box once the kernel takes it

  constructor(private readonly model: Model) {
    const requests = (this.requests = new Requests(model, () => this.update()));
    this.cards = new ToolCards((msg: ChatRequest, busy?: HTMLButtonElement) => requests.send(msg, busy));
    this.transcript = new Transcript(model, this.cards, this.notices);
    this.regenerateButton = requests.button("Regenerate", () => ({ type: "regenerate" }), "llmw-quiet");
    this.stopButton = requests.button("Stop", () => ({ type: "stop" }));
    this.stopRunningButton = requests.button("Stop the running answer", () => ({ type: "stop_running" }));
    const clearButton = requests.button("Clear", () => ({ type: "clear" }), "llmw-quiet");
    this.hints = modelHints(model);
    this.think = thinkSwitch(model);
    this.settings = settingsPanel(model, this.hints);
    const header = h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, "Chat"), this.modelName);
    const actions = h("div", { class: "llmw-actions" }, clearButton, this.stopRunningButton, this.think.el, h("span", { class: "llmw-spacer" }), this.stopButton, this.sendButton);
    const composer = h("div", { class: "llmw-composer" }, this.input, actions);
    this.root = h("div", { class: "llmw llmw-chat" }, header, this.hints.note, this.transcript.el, this.waiting, this.errorLine, this.editLine, composer, this.settings.el, this.notices.el);
    connectionLine(this.root, requests);
    // an answer whose chunks stop arriving (a host that drops background messages): ask again
    this.watch = resyncWhenQuiet(requests, () => model.get("status") === "generating" && !model.get("detail"), 2500);
    this.editLine.hidden = true;
    this.input.addEventListener("keydown", (event: KeyboardEvent) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
  }

  /** Send: the text stays in the box until the kernel takes the turn (no model: it is kept). */
  private submit(): void {
    const text = this.input.value;
    if (!text.trim() || this.model.get("status") === "generating" || this.transcript.streaming) return;
    this.sent = text;
    this.requests.send(this.editing ? { type: "edit_last", text } : { type: "send", text }, this.sendButton);
  }

  /** The text Send asked for reached the transcript: it leaves the box (a refused one stays). */
  private accepted(content: string): void {
    if (this.sent === null || content !== this.sent) return;
    if (this.input.value === this.sent) this.input.value = "";
    this.sent = null;
    if (this.editing) this.stopEdit();
  }

  private startEdit(): void {
    const lastUser = [...this.transcript.el.querySelectorAll(".llmw-msg-user .llmw-text")].pop();
    if (!lastUser) return;
    this.editing = true;
    this.input.value = lastUser.textContent ?? "";
    this.editLine.hidden = false;
    this.input.focus();
  }

  private stopEdit(): void {
    this.editing = false;
    this.editLine.hidden = true;
  }

  /** A message from the kernel (notices and acks are handled before). */
  onMessage(msg: Incoming): void {
    if (!msg || typeof msg !== "object") return;
    this.watch.heard();
    const transcript = this.transcript;
    switch (msg.type) {
      case "transcript": {
        transcript.show(msg.messages);
        if (typeof msg.partial === "string") {
          const lastUser = [...msg.messages].reverse().find((m) => m.role === "user");
          if (msg.partial === "" && lastUser) this.accepted(lastUser.content); // an edit was taken
          transcript.openAssistant(msg.partial);
          transcript.showThinking(msg);
        }
        for (const call of msg.calls ?? []) transcript.showCall(call);
        transcript.empty();
        this.update();
        break;
      }
      case "turn_start":
        transcript.addTurn("user", msg.content);
        this.accepted(msg.content);
        transcript.openAssistant();
        this.update();
        break;
      case "chunk": {
        const start = performance.now();
        transcript.chunk(msg);
        ((window as any).__llmwChunkProbe as ChunkProbe | undefined)?.(start);
        break;
      }
      case "tool_call":
        transcript.showCall(msg.call);
        break;
      case "done":
        transcript.closeAssistant(msg.stats?.stop_reason ?? "", msg.stats?.reasoning_seconds);
        this.cards.settle(transcript.el);
        this.update();
        break;
    }
  }

  /** Show the traits: the buttons, the queued and error lines, the model badge, the turns. */
  update(): void {
    const model = this.model;
    // busy until the kernel says so *and* the streamed turn is closed (its last chunks arrived)
    const generating = model.get("status") === "generating" || this.transcript.streaming;
    this.sendButton.disabled = generating;
    this.stopButton.disabled = !generating;
    const detail = model.get("status") === "generating" ? model.get("detail") : "";
    showText(this.waiting, detail ? `Your message is queued: ${detail}.` : "");
    this.stopRunningButton.hidden = detail !== "waiting for the running answer";
    const label = model.get("model_label") || model.get("model_name");
    const server = model.get("model_server");
    const engine = model.get("model_engine");
    const kernel = engine ? `in this kernel (${engine})` : "in this kernel";
    this.modelName.textContent = !label ? "no model loaded" : server ? `${label} · on ${server}` : `${label} · ${kernel}`;
    this.modelName.title = model.get("model_detail") || "";
    this.modelName.classList.toggle("llmw-model-none", !label);
    showText(this.errorLine, model.get("error"));
    this.hints.refresh();
    this.think.refresh();
    this.placeTurnButtons();
  }

  /** Stop the timers (the view goes away). */
  stop(): void {
    this.watch.stop();
    this.transcript.stop();
  }

  /** Regenerate goes on the last answer, Edit on the last message; both only between turns. The
   * figures go on the last answer once it ended; why it ended is its mark. */
  private placeTurnButtons(): void {
    const transcript = this.transcript;
    const turns = transcript.turns();
    const lastUser = [...turns].reverse().find((t) => t.classList.contains("llmw-msg-user"));
    const last = turns[turns.length - 1];
    const idle = this.model.get("status") !== "generating" && !transcript.streaming;
    const answerable = idle && lastUser !== undefined && (last === lastUser || last === lastUser.nextElementSibling);
    const follow = transcript.atBottom();
    this.editButton.hidden = this.regenerateButton.hidden = !answerable;
    if (answerable) {
      lastUser.querySelector(".llmw-turn-actions")!.append(this.editButton);
      (last.querySelector(".llmw-turn-actions") ?? lastUser.querySelector(".llmw-turn-actions"))!.append(this.regenerateButton);
    }
    const lastStats = this.model.get("last_stats") ?? {};
    const figures = idle ? statsText(lastStats) : ""; // never the previous answer's while one streams
    this.stats.textContent = figures;
    const answer = last?.classList.contains("llmw-msg-assistant") ? last : null;
    if (answer && figures) answer.querySelector(".llmw-turn-foot")!.insertBefore(this.stats, answer.querySelector(".llmw-turn-actions"));
    else this.stats.remove();
    if (answer && idle && lastStats.stop_reason) transcript.markEnd(answer, lastStats.stop_reason);
    if (follow) transcript.toEnd();
    if (!answerable && this.editing) this.stopEdit();
  }
}

function render(model: Model, el: HTMLElement): () => void {
  const view = new ChatView(model);
  const { notices, requests, transcript, root } = view;
  el.append(root);
  const update = () => view.update();
  const unlisten = listen(model, {
    "msg:custom": customMessages(notices, requests, (msg: Incoming) => view.onMessage(msg)),
    "change:status": update,
    "change:detail": update,
    "change:model_name": update,
    "change:model_label": update,
    "change:model_server": update,
    "change:model_engine": update,
    "change:error": update,
    "change:last_stats": update,
    "change:system_prompt": view.settings.sync,
    "change:temperature": view.settings.sync,
    "change:top_p": view.settings.sync,
    "change:max_tokens": view.settings.sync,
    "change:trim_history": view.settings.sync,
    "change:think": update,
    "change:can_think": update,
    "change:model_note": update,
    "change:model_defaults": update,
    "change:mode": update,
  });
  // a saved notebook (persist_transcript) shows its conversation before, or without, a kernel
  transcript.show(model.get("transcript") ?? []);
  update();
  transcript.empty();
  return teardown(root, notices, requests, () => (unlisten(), view.stop()));
}

export default { render: ({ model, el }: RenderProps<ChatState>) => render(model, el) };
