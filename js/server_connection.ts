// ServerConnection view: URL, API key (sent once to the kernel, never shown back), model picker,
// Connect / Disconnect and a status badge.
import type { AnyModel, RenderProps } from "@anywidget/types";
import type { ServerConnectionRequest, ServerConnectionState } from "./protocol";
import { Notices, Requests, connectionLine, customMessages, h, listen, showText, teardown } from "./ui";
import "./styles.css";

type Model = AnyModel<ServerConnectionState>;

const STATUS_TEXT: Record<ServerConnectionState["status"], string> = {
  disconnected: "Not connected",
  connecting: "Connecting…",
  connected: "Connected",
  failed: "Failed",
};
const BADGE_CLASS: Record<ServerConnectionState["status"], string> = {
  disconnected: "",
  connecting: "llmw-badge-running",
  connected: "llmw-badge-done",
  failed: "llmw-badge-failed",
};

/** The form: server URL, API key, the model to use. */
function connectionForm(model: Model) {
  const url = h("input", { type: "url", class: "llmw-text", "aria-label": "Server URL", placeholder: "http://host:8000/v1", spellcheck: "false" }) as HTMLInputElement;
  // the key goes to the kernel with Connect and is cleared here; the page never gets it back
  const key = h("input", { type: "password", class: "llmw-text", "aria-label": "API key", autocomplete: "off" }) as HTMLInputElement;
  const picker = h("select", { "aria-label": "Model" }) as HTMLSelectElement;
  url.value = model.get("base_url");
  const el = h("div", { class: "llmw-server-form" }, h("label", {}, "URL"), url, h("label", {}, "API key"), key, h("label", {}, "Model"), picker);
  return { url, key, picker, el };
}

/** The models the server offers (one that is all it has, or the one in use, cannot be changed). */
function showModels(picker: HTMLSelectElement, model: Model): void {
  const models = model.get("models") || [];
  const current = model.get("model");
  const names = models.length ? models : current ? [current] : [];
  picker.replaceChildren(
    ...(names.length ? names : [""]).map((name) => h("option", { value: name, selected: name === current }, name || "the server's first model")),
  );
  picker.disabled = names.length < 2;
}

/** Connect, Disconnect and Forget key. */
interface Buttons {
  connect: HTMLButtonElement;
  disconnect: HTMLButtonElement;
  forget: HTMLButtonElement;
}

/** One of Connect or Disconnect at a time (connected: Disconnect); Forget key while a key is held. */
function showButtons(buttons: Buttons, model: Model): void {
  const status = model.get("status");
  buttons.forget.hidden = !model.get("has_key");
  buttons.connect.hidden = status === "connected";
  buttons.disconnect.hidden = status !== "connected";
  if (!buttons.connect.hasAttribute("aria-busy")) buttons.connect.disabled = status === "connecting";
}

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model, () => update());
  const form = connectionForm(model);
  const { url, key, picker } = form;
  const badge = h("span", { class: "llmw-badge", role: "status", "aria-label": "Connection status" });
  const where = h("span", { class: "llmw-figures" });
  const errorLine = h("div", { class: "llmw-error", role: "alert" });

  const connectMessage = (chosen?: string): ServerConnectionRequest => {
    const msg: ServerConnectionRequest = { type: "connect", base_url: url.value.trim() };
    if (chosen) msg.model = chosen;
    if (key.value) msg.api_key = key.value;
    key.value = "";
    return msg;
  };
  const buttons: Buttons = {
    connect: requests.button("Connect", () => connectMessage(), "llmw-primary"),
    disconnect: requests.button("Disconnect", () => ({ type: "disconnect" })),
    forget: requests.button("Forget key", () => ({ type: "forget_key" })),
  };
  for (const field of [url, key]) {
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !buttons.connect.disabled) buttons.connect.click();
    });
  }
  picker.addEventListener("change", () => {
    if (model.get("status") === "connected" && picker.value !== model.get("model")) requests.send(connectMessage(picker.value));
  });

  const root = h(
    "div",
    { class: "llmw llmw-server" },
    h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, "Model server"), badge, where),
    form.el,
    h("div", { class: "llmw-actions" }, buttons.connect, buttons.disconnect, buttons.forget),
    errorLine,
    notices.el,
  );
  connectionLine(root, requests);
  el.append(root);

  const update = () => {
    const status = model.get("status");
    badge.textContent = STATUS_TEXT[status] ?? status;
    badge.className = `llmw-badge ${BADGE_CLASS[status] ?? ""}`.trim();
    where.textContent = status === "connected" ? `${model.get("model")} on ${model.get("server")}` : "";
    key.placeholder = model.get("has_key") ? "a key is held by the kernel" : `optional; else $${model.get("api_key_env")}`;
    showButtons(buttons, model);
    showModels(picker, model);
    showText(errorLine, model.get("error"));
  };
  const unlisten = listen(model, {
    "msg:custom": customMessages(notices, requests),
    "change:status": update,
    "change:server": update,
    "change:model": update,
    "change:models": update,
    "change:has_key": update,
    "change:api_key_env": update,
    "change:error": update,
    "change:base_url": () => (url.value = model.get("base_url")),
  });
  update();
  return teardown(root, notices, requests, unlisten);
}

export default { render: ({ model, el }: RenderProps<ServerConnectionState>) => render(model, el) };
