// Chat view: transcript with streamed answers, input, Send / Stop / Clear, sampling settings.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { ChatMessage, ChatRequest, ChatState, GenerationStats, Notice } from "./protocol";
import { Notices, Requests, button, connectionLine, customMessages, h, listen, numberField, resyncWhenQuiet, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<ChatState>;
type Incoming =
  | Notice
  | { type: "transcript"; messages: ChatMessage[]; partial: string | null }
  | { type: "turn_start"; role: "user"; content: string }
  | { type: "chunk"; text: string }
  | { type: "done"; stats: Partial<GenerationStats> };

function statsText(stats: Partial<GenerationStats>): string {
  if (!stats || stats.completion_tokens === undefined) return "";
  const parts = [
    `${stats.completion_tokens} tokens`,
    stats.tokens_per_second ? `${stats.tokens_per_second.toFixed(1)} tokens/s` : "",
    stats.ttft !== undefined ? `first token ${(stats.ttft * 1000).toFixed(0)} ms` : "",
    stats.cached_prompt_tokens ? `${stats.cached_prompt_tokens} prompt tokens reused` : "",
    stats.trimmed_messages ? `${stats.trimmed_messages} oldest messages left out` : "",
    stats.stop_reason && stats.stop_reason !== "stop" ? `stopped: ${stats.stop_reason}` : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model, () => update());
  const send = (msg: ChatRequest, busy?: HTMLButtonElement) => requests.send(msg, busy);
  const header = h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, "Chat"));
  const modelName = h("span", { class: "llmw-badge" });
  header.append(modelName);
  const transcript = h("div", { class: "llmw-transcript", role: "log", "aria-live": "polite", "aria-label": "Transcript" });
  const input = h("textarea", { class: "llmw-input", "aria-label": "Message", rows: 2, placeholder: "Message the model — Enter sends, Shift+Enter for a new line" });
  const sendButton = button("Send", () => submit(), "llmw-primary");
  const stopButton = requests.button("Stop", () => ({ type: "stop" }));
  const stopRunningButton = requests.button("Stop the running answer", () => ({ type: "stop_running" }));
  const waiting = h("div", { class: "llmw-figures", role: "status" });
  const clearButton = requests.button("Clear", () => ({ type: "clear" }));
  const stats = h("div", { class: "llmw-stats llmw-num", "aria-label": "Answer statistics" });
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
    ),
  );
  const root = h(
    "div",
    { class: "llmw llmw-chat" },
    header,
    transcript,
    stats,
    waiting,
    errorLine,
    input,
    h("div", { class: "llmw-actions" }, sendButton, stopButton, clearButton, stopRunningButton),
    settings,
    notices.el,
  );
  root.append(connectionLine(root, requests));
  el.append(root);
  // an answer whose chunks stop arriving (a host that drops background messages): ask again
  const watch = resyncWhenQuiet(requests, () => model.get("status") === "generating" && !model.get("detail"), 2500);

  let open: HTMLElement | null = null; // the assistant turn being streamed

  const bubble = (role: string, content: string) => {
    const text = h("span", { class: "llmw-text" }, content);
    const node = h("div", { class: `llmw-msg llmw-msg-${role}` }, h("span", { class: "llmw-role" }, role), text);
    transcript.querySelector(".llmw-empty")?.remove();
    transcript.append(node);
    transcript.scrollTop = transcript.scrollHeight;
    return node;
  };
  const empty = () => {
    if (!transcript.childElementCount) transcript.append(h("div", { class: "llmw-empty" }, "No messages yet."));
  };
  const openAssistant = (content = "") => {
    open = bubble("assistant", content);
    open.classList.add("llmw-streaming");
  };
  const submit = () => {
    const text = input.value;
    if (!text.trim() || model.get("status") === "generating" || open !== null) return;
    send({ type: "send", text }, sendButton);
    input.value = "";
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
      case "transcript":
        transcript.replaceChildren();
        open = null;
        for (const m of msg.messages) if (m.role !== "system") bubble(m.role, m.content);
        if (typeof msg.partial === "string") openAssistant(msg.partial);
        empty();
        update();
        break;
      case "turn_start":
        bubble("user", msg.content);
        openAssistant();
        update();
        break;
      case "chunk":
        if (!open) openAssistant();
        open!.querySelector(".llmw-text")!.append(msg.text);
        transcript.scrollTop = transcript.scrollHeight;
        break;
      case "done":
        open?.classList.remove("llmw-streaming");
        open = null;
        update();
        stats.textContent = statsText(msg.stats);
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
    const name = model.get("model_name");
    const server = model.get("model_server");
    modelName.textContent = !name ? "no model loaded" : server ? `${name} · on ${server}` : `${name} · in this kernel`;
    showText(errorLine, model.get("error"));
    stats.textContent = statsText(model.get("last_stats"));
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
    "change:model_server": update,
    "change:error": update,
    "change:last_stats": update,
    "change:system_prompt": syncSettings,
    "change:temperature": syncSettings,
    "change:top_p": syncSettings,
    "change:max_tokens": syncSettings,
    "change:trim_history": syncSettings,
  });
  update();
  empty();
  return teardown(root, notices, requests, () => (unlisten(), watch.stop()));
}

export default { render: ({ model, el }: RenderProps<ChatState>) => render(model, el) };
