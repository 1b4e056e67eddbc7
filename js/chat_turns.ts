// One turn of the Chat's transcript: its DOM (see the structure at the top of chat.ts), the words
// for why an answer ended, and the figures of an answer.
import { renderMarkdown } from "./markdown";
import type { GenerationStats } from "./protocol";
import { h } from "./ui";

/** What the view knows of an assistant turn beyond its text: who answered, why it ended. */
export interface TurnFacts {
  label: string; // the answering model ("SmolLM2-135M-Instruct · Q4_1"); "" when not known
  detail: string; // the model exactly (the label's tooltip)
  stop: string; // the stop_reason once it ended ("" while it streams)
}

/** Why an answer ended, in words; "" for a natural end. */
export function stopText(reason: string | undefined): string {
  switch (reason) {
    case "aborted":
      return "Stopped by you";
    case "length":
      return "Cut at the token limit (max_tokens)";
    case "error":
      return "Ended by an error";
    default:
      return "";
  }
}

/** The figures of an answer (why it ended is the turn's mark, not part of them). */
export function statsText(stats: Partial<GenerationStats>): string {
  if (!stats || stats.completion_tokens === undefined) return "";
  const parts = [
    `${stats.completion_tokens} tokens`,
    stats.tokens_per_second ? `${stats.tokens_per_second.toFixed(1)} tokens/s` : "",
    stats.ttft !== undefined ? `first token ${(stats.ttft * 1000).toFixed(0)} ms` : "",
    stats.cached_prompt_tokens ? `${stats.cached_prompt_tokens} prompt tokens reused` : "",
    stats.trimmed_messages ? `${stats.trimmed_messages} oldest messages left out` : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

export interface Turn {
  node: HTMLElement; // .llmw-msg
  text: HTMLElement; // .llmw-text: the person's words or the answer's Markdown
  actions: HTMLElement; // .llmw-turn-actions
}

/** A user turn: a bubble of plain text, its actions (Edit) below. */
export function userTurn(content: string): Turn {
  const text = h("div", { class: "llmw-text" });
  text.textContent = content; // the person's own words stay plain text
  const actions = h("div", { class: "llmw-turn-actions" });
  const node = h(
    "div",
    { class: "llmw-msg llmw-msg-user" },
    h("span", { class: "llmw-sr-only" }, "You: "),
    h("div", { class: "llmw-turn-body" }, text),
    h("div", { class: "llmw-turn-foot" }, actions),
  );
  return { node, text, actions };
}

/** An assistant turn: header (the model), blocks (thinking, tool calls), the answer, footer. */
export function assistantTurn(content: string, facts: TurnFacts): Turn {
  const text = h("div", { class: "llmw-text llmw-md" });
  text.append(renderMarkdown(content));
  const actions = h("div", { class: "llmw-turn-actions" });
  const node = h(
    "div",
    { class: "llmw-msg llmw-msg-assistant" },
    h("div", { class: "llmw-turn-head" }, h("span", { class: "llmw-role" })),
    h("div", { class: "llmw-turn-body" }, h("div", { class: "llmw-turn-blocks" }), text),
    h("div", { class: "llmw-turn-foot" }, h("span", { class: "llmw-stop-mark", role: "note" }), actions),
  );
  describeTurn(node, facts);
  return { node, text, actions };
}

/** Show who answered and why the answer ended (a visible mark when it did not end by itself). */
export function describeTurn(node: HTMLElement, facts: TurnFacts): void {
  const role = node.querySelector<HTMLElement>(".llmw-role");
  if (role) {
    role.textContent = facts.label || "Assistant";
    if (facts.detail) role.title = facts.detail;
    else role.removeAttribute("title");
  }
  const mark = node.querySelector<HTMLElement>(".llmw-stop-mark");
  const words = stopText(facts.stop);
  if (mark) {
    mark.textContent = words;
    mark.hidden = !words;
  }
  if (words) node.dataset.stop = facts.stop;
  else delete node.dataset.stop;
}
