// Chat view: transcript with streamed answers rendered as Markdown, input, Send / Stop / Clear,
// Regenerate / Edit, Copy and Copy code, sampling settings.
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
import { assistantTurn, describeTurn, statsText, userTurn, type TurnFacts } from "./chat_turns";
import { StreamingMarkdown, renderMarkdown } from "./markdown";
import { modelHints } from "./model_hints";
import { ThinkingBlock, thinkSwitch } from "./thinking";
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

/** What a chunk, or a transcript mid-answer, carries of the model's thinking. */
type ThinkingSoFar = { thinking?: string; partial_thinking?: string; thinking_seconds?: number; thinking_done?: boolean };

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

/** For benchmarks/chat_render.py: called after each chunk is shown, with its start time. */
type ChunkProbe = (start: number) => void;

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model, () => update());
  const send = (msg: ChatRequest, busy?: HTMLButtonElement) => requests.send(msg, busy);
  const cards = new ToolCards(send);
  const sources = new WeakMap<HTMLElement, { text: string }>(); // an answer's Markdown, for Copy
  const modelName = h("span", { class: "llmw-badge llmw-model" });
  const header = h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, "Chat"), modelName);
  const transcript = h("div", { class: "llmw-transcript", role: "log", "aria-live": "polite", "aria-label": "Transcript" });
  const input = h("textarea", { class: "llmw-input", "aria-label": "Message", rows: 2, placeholder: "Message the model — Enter sends, Shift+Enter for a new line" });
  const sendButton = button("Send", () => submit(), "llmw-primary");
  const regenerateButton = requests.button("Regenerate", () => ({ type: "regenerate" }), "llmw-quiet");
  const editButton = button("Edit", () => startEdit(), "llmw-quiet");
  const cancelEditButton = button("Cancel edit", () => stopEdit());
  const editLine = h("div", { class: "llmw-figures llmw-editing", role: "status" }, "Editing your last message: Send replaces it and its answer. ", cancelEditButton);
  const stopButton = requests.button("Stop", () => ({ type: "stop" }));
  const stopRunningButton = requests.button("Stop the running answer", () => ({ type: "stop_running" }));
  const waiting = h("div", { class: "llmw-figures", role: "status" });
  const clearButton = requests.button("Clear", () => ({ type: "clear" }), "llmw-quiet");
  const stats = h("span", { class: "llmw-stats llmw-num", "aria-label": "Answer statistics" });
  const errorLine = h("div", { class: "llmw-error", role: "alert" });

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
  const hints = modelHints(model);
  const think = thinkSwitch(model);
  const trimHistory = h("input", { type: "checkbox", "aria-label": "Leave out the oldest turns when the context is full" }) as HTMLInputElement;
  trimHistory.checked = model.get("trim_history");
  trimHistory.addEventListener("change", () => {
    model.set("trim_history", trimHistory.checked);
    model.save_changes();
  });
  const settings = h(
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
  const composer = h(
    "div",
    { class: "llmw-composer" },
    input,
    h("div", { class: "llmw-actions" }, clearButton, stopRunningButton, think.el, h("span", { class: "llmw-spacer" }), stopButton, sendButton),
  );
  const root = h("div", { class: "llmw llmw-chat" }, header, hints.note, transcript, waiting, errorLine, editLine, composer, settings, notices.el);
  connectionLine(root, requests);
  el.append(root);
  // an answer whose chunks stop arriving (a host that drops background messages): ask again
  const watch = resyncWhenQuiet(requests, () => model.get("status") === "generating" && !model.get("detail"), 2500);

  let open: StreamingMarkdown | null = null; // the assistant turn being streamed
  let openNode: HTMLElement | null = null;
  let thought: ThinkingBlock | null = null; // the open turn's thinking
  let editing = false;
  let sent: string | null = null; // what Send asked for: it leaves the box once the kernel takes it
  // per message index: who answered and why it ended, as far as this view saw it
  const facts = new Map<number, TurnFacts>();
  const currentModel = (): TurnFacts => ({ label: model.get("model_label") || model.get("model_name"), detail: model.get("model_detail"), stop: "" });

  const atBottom = () => transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  const addTurn = (role: string, content: string, turnFacts?: TurnFacts, reasoning = "") => {
    const follow = atBottom();
    const turn = role === "assistant" ? assistantTurn(content, turnFacts ?? { label: "", detail: "", stop: "" }) : userTurn(content);
    const node = turn.node;
    if (role === "assistant") {
      const source = { text: content };
      sources.set(node, source);
      const copyButton = button("Copy", () => {
        const markdown = openNode === node && open ? open.text : source.text;
        void copy(markdown, () => showSource(node, markdown), notices);
      }, "llmw-local llmw-quiet");
      turn.actions.append(copyButton);
      if (reasoning) turn.node.querySelector(".llmw-turn-blocks")!.append(new ThinkingBlock(reasoning, false).el);
    }
    node.dataset.index = String(transcript.querySelectorAll(".llmw-msg").length);
    transcript.querySelector(".llmw-empty")?.remove();
    transcript.append(node);
    if (follow) transcript.scrollTop = transcript.scrollHeight;
    return node;
  };
  /** Where the clipboard is refused: the Markdown source, selected, for Ctrl+C. */
  const showSource = (node: HTMLElement, markdown: string) => {
    node.querySelector(".llmw-copy-source")?.remove();
    const area = h("textarea", { class: "llmw-copy-source", readonly: true, "aria-label": "Markdown source", rows: 6 }) as HTMLTextAreaElement;
    area.value = markdown;
    area.addEventListener("blur", () => area.remove());
    node.append(area);
    area.focus();
    area.select();
  };
  const empty = () => {
    if (!transcript.childElementCount) transcript.append(h("div", { class: "llmw-empty" }, "No messages yet."));
  };
  const openAssistant = (content = "") => {
    const index = transcript.querySelectorAll(".llmw-msg").length;
    facts.set(index, currentModel());
    openNode = addTurn("assistant", "", facts.get(index));
    openNode.classList.add("llmw-streaming");
    open = new StreamingMarkdown(openNode.querySelector(".llmw-text")!);
    if (content) open.append(content);
  };
  /** Thinking streamed into the open turn (a block above its answer, made on first need). */
  const showThinking = (msg: ThinkingSoFar) => {
    const text = msg.thinking ?? msg.partial_thinking;
    if (text === undefined || !openNode) return;
    if (!thought) {
      thought = new ThinkingBlock("", !msg.thinking_done, msg.thinking_seconds ?? 0);
      openNode.querySelector(".llmw-turn-blocks")!.append(thought.el);
    }
    thought.append(text, msg.thinking_seconds);
    if (msg.thinking_done) thought.finish(msg.thinking_seconds);
  };
  const closeAssistant = (reason: string, seconds?: number) => {
    if (open && openNode) {
      open.finish();
      openNode.classList.remove("llmw-streaming");
      const turnFacts = facts.get(Number(openNode.dataset.index));
      if (turnFacts) describeTurn(openNode, { ...turnFacts, stop: reason });
      if (turnFacts) turnFacts.stop = reason;
    }
    thought?.finish(seconds);
    open = openNode = thought = null;
  };
  const showTranscript = (messages: ChatMessage[]) => {
    transcript.replaceChildren();
    thought?.stop();
    open = openNode = thought = null;
    for (const index of [...facts.keys()]) if (index >= messages.length) facts.delete(index);
    const results = new Map(messages.filter((m) => m.role === "tool").map((m) => [m.tool_call_id ?? "", m.content]));
    let turn: { node: HTMLElement; text: string } | null = null; // an answer that called tools goes on
    for (const m of messages) {
      if (m.role === "system" || m.role === "tool") continue;
      if (m.role === "assistant" && turn) {
        turn.text += m.content;
        turn.node.querySelector(".llmw-text")!.replaceChildren(renderMarkdown(turn.text));
        sources.get(turn.node)!.text = turn.text;
      } else {
        const index = transcript.querySelectorAll(".llmw-msg").length;
        turn = { node: addTurn(m.role, m.content, facts.get(index), m.reasoning_content), text: m.content };
      }
      if (m.role === "assistant" && m.tool_calls?.length) cards.restore(turn.node, m, results);
      else turn = null;
    }
    transcript.scrollTop = transcript.scrollHeight;
  };
  /** The text Send asked for reached the transcript: it leaves the box (a refused one stays). */
  const accepted = (content: string) => {
    if (sent === null || content !== sent) return;
    if (input.value === sent) input.value = "";
    sent = null;
    if (editing) stopEdit();
  };
  /** Regenerate goes on the last answer, Edit on the last message; both only between turns. The
   * figures go on the last answer once it ended; why it ended is its mark. */
  const placeTurnButtons = () => {
    const turns = [...transcript.querySelectorAll<HTMLElement>(".llmw-msg")];
    const lastUser = [...turns].reverse().find((t) => t.classList.contains("llmw-msg-user"));
    const last = turns[turns.length - 1];
    const idle = model.get("status") !== "generating" && open === null;
    const answerable = idle && lastUser !== undefined && (last === lastUser || last === lastUser.nextElementSibling);
    const follow = atBottom();
    editButton.hidden = regenerateButton.hidden = !answerable;
    if (answerable) {
      lastUser.querySelector(".llmw-turn-actions")!.append(editButton);
      (last.querySelector(".llmw-turn-actions") ?? lastUser.querySelector(".llmw-turn-actions"))!.append(regenerateButton);
    }
    const lastStats = model.get("last_stats") ?? {};
    const figures = idle ? statsText(lastStats) : ""; // never the previous answer's while one streams
    stats.textContent = figures;
    const answer = last?.classList.contains("llmw-msg-assistant") ? last : null;
    if (answer && figures) answer.querySelector(".llmw-turn-foot")!.insertBefore(stats, answer.querySelector(".llmw-turn-actions"));
    else stats.remove();
    if (answer && idle && lastStats.stop_reason) {
      // the last answer's end is known from the kernel even in a view that did not see it
      const index = Number(answer.dataset.index);
      const turnFacts = facts.get(index) ?? { label: "", detail: "", stop: "" };
      facts.set(index, { ...turnFacts, stop: lastStats.stop_reason });
      describeTurn(answer, facts.get(index)!);
    }
    if (follow) transcript.scrollTop = transcript.scrollHeight;
    if (!answerable && editing) stopEdit();
  };
  const startEdit = () => {
    const lastUser = [...transcript.querySelectorAll(".llmw-msg-user .llmw-text")].pop();
    if (!lastUser) return;
    editing = true;
    input.value = lastUser.textContent ?? "";
    editLine.hidden = false;
    input.focus();
  };
  const stopEdit = () => {
    editing = false;
    editLine.hidden = true;
  };
  editLine.hidden = true;
  transcript.addEventListener("click", (event) => {
    const target = event.target as HTMLElement;
    const copyCode = target.closest?.(".llmw-copy-code");
    const code = copyCode?.closest(".llmw-code")?.querySelector("code");
    if (code) void copy((code.textContent ?? "").replace(/\n$/, ""), () => selectContents(code), notices);
  });
  /** Send: the text stays in the box until the kernel takes the turn (no model: it is kept). */
  const submit = () => {
    const text = input.value;
    if (!text.trim() || model.get("status") === "generating" || open !== null) return;
    sent = text;
    send(editing ? { type: "edit_last", text } : { type: "send", text }, sendButton);
  };
  input.addEventListener("keydown", (event: KeyboardEvent) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });

  const onMessage = (msg: Incoming) => {
    if (!msg || typeof msg !== "object") return;
    watch.heard();
    switch (msg.type) {
      case "transcript": {
        showTranscript(msg.messages);
        if (typeof msg.partial === "string") {
          const lastUser = [...msg.messages].reverse().find((m) => m.role === "user");
          if (msg.partial === "" && lastUser) accepted(lastUser.content); // an edit was taken
          openAssistant(msg.partial);
          showThinking(msg);
        }
        for (const call of msg.calls ?? []) cards.show(openNode!, call);
        empty();
        update();
        break;
      }
      case "turn_start":
        addTurn("user", msg.content);
        accepted(msg.content);
        openAssistant();
        update();
        break;
      case "chunk": {
        const start = performance.now();
        const follow = atBottom();
        if (!open) openAssistant();
        showThinking(msg);
        if (msg.text) open!.append(msg.text);
        if (follow) transcript.scrollTop = transcript.scrollHeight;
        ((window as any).__llmwChunkProbe as ChunkProbe | undefined)?.(start);
        break;
      }
      case "tool_call":
        if (!open) openAssistant();
        cards.show(openNode!, msg.call);
        break;
      case "done":
        closeAssistant(msg.stats?.stop_reason ?? "", msg.stats?.reasoning_seconds);
        cards.settle(transcript);
        update();
        break;
    }
  };

  const update = () => {
    // busy until the kernel says so *and* the streamed turn is closed (its last chunks arrived)
    const generating = model.get("status") === "generating" || open !== null;
    sendButton.disabled = generating;
    stopButton.disabled = !generating;
    const detail = model.get("status") === "generating" ? model.get("detail") : "";
    showText(waiting, detail ? `Your message is queued: ${detail}.` : "");
    stopRunningButton.hidden = detail !== "waiting for the running answer";
    const label = model.get("model_label") || model.get("model_name");
    const server = model.get("model_server");
    const engine = model.get("model_engine");
    const kernel = engine ? `in this kernel (${engine})` : "in this kernel";
    modelName.textContent = !label ? "no model loaded" : server ? `${label} · on ${server}` : `${label} · ${kernel}`;
    modelName.title = model.get("model_detail") || "";
    modelName.classList.toggle("llmw-model-none", !label);
    showText(errorLine, model.get("error"));
    hints.refresh();
    think.refresh();
    placeTurnButtons();
  };
  const syncSettings = () => {
    systemPrompt.value = model.get("system_prompt");
    temperature.refresh();
    topP.refresh();
    maxTokens.refresh();
    trimHistory.checked = model.get("trim_history");
  };
  const unlisten = listen(model, {
    "msg:custom": customMessages(notices, requests, onMessage),
    "change:status": update,
    "change:detail": update,
    "change:model_name": update,
    "change:model_label": update,
    "change:model_server": update,
    "change:model_engine": update,
    "change:error": update,
    "change:last_stats": update,
    "change:system_prompt": syncSettings,
    "change:temperature": syncSettings,
    "change:top_p": syncSettings,
    "change:max_tokens": syncSettings,
    "change:trim_history": syncSettings,
    "change:think": update,
    "change:can_think": update,
    "change:model_note": update,
    "change:model_defaults": update,
    "change:mode": update,
  });
  // a saved notebook (persist_transcript) shows its conversation before, or without, a kernel
  showTranscript(model.get("transcript") ?? []);
  update();
  empty();
  return teardown(root, notices, requests, () => (unlisten(), watch.stop(), thought?.stop()));
}

export default { render: ({ model, el }: RenderProps<ChatState>) => render(model, el) };
