// What the Chat tells about the model beyond its name: a note (no chat template, with a button
// to switch to completion mode), the mode setting, and the model's own sampling defaults.
import type { AnyModel } from "@anywidget/types";
import type { ChatState } from "./protocol";
import { button, h, showText } from "./ui";

type Model = AnyModel<ChatState>;

const NAMES: Record<string, string> = { temperature: "temperature", top_p: "top-p", top_k: "top-k", min_p: "min-p", repeat_penalty: "repeat penalty" };

export function modelHints(model: Model) {
  const setMode = (mode: "chat" | "completion") => {
    model.set("mode", mode);
    model.save_changes();
  };
  const noteText = h("span");
  const useCompletion = button("Use completion", () => setMode("completion"));
  const note = h("div", { class: "llmw-figures llmw-model-note", role: "note" }, noteText, " ", useCompletion);
  const mode = h("select", { "aria-label": "Mode" }, h("option", { value: "chat" }, "chat"), h("option", { value: "completion" }, "completion (continue the text)")) as HTMLSelectElement;
  mode.addEventListener("change", () => setMode(mode.value as "chat" | "completion"));
  const defaults = h("div", { class: "llmw-figures llmw-model-defaults", "aria-label": "The model's defaults" });
  const refresh = () => {
    noteText.textContent = model.get("model_note");
    note.hidden = !model.get("model_note");
    useCompletion.hidden = model.get("mode") === "completion";
    mode.value = model.get("mode");
    const values = Object.entries(model.get("model_defaults") ?? {}).map(([k, v]) => `${NAMES[k] ?? k} ${v}`);
    showText(defaults, values.length ? `The model's defaults: ${values.join(" · ")} (used unless you set them)` : "");
  };
  refresh();
  return { note, settings: [h("label", {}, "Mode"), mode, h("span"), defaults] as const, refresh };
}
