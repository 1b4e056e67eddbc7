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

function render(model: Model, el: HTMLElement): () => void {
  const notices = new Notices();
  const requests = new Requests(model, () => update());
  const send = (msg: ServerConnectionRequest, busy?: HTMLButtonElement) => requests.send(msg, busy);

  const url = h("input", { type: "url", class: "llmw-text", "aria-label": "Server URL", placeholder: "http://host:8000/v1", spellcheck: "false" }) as HTMLInputElement;
  // the key goes to the kernel with Connect and is cleared here; the page never gets it back
  const key = h("input", { type: "password", class: "llmw-text", "aria-label": "API key", autocomplete: "off" }) as HTMLInputElement;
  const picker = h("select", { "aria-label": "Model" }) as HTMLSelectElement;
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
  const connectButton = requests.button("Connect", () => connectMessage(), "llmw-primary");
  const disconnectButton = requests.button("Disconnect", () => ({ type: "disconnect" }));
  const forgetButton = requests.button("Forget key", () => ({ type: "forget_key" }));

  url.value = model.get("base_url");
  for (const field of [url, key]) {
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !connectButton.disabled) connectButton.click();
    });
  }
  picker.addEventListener("change", () => {
    if (model.get("status") === "connected" && picker.value !== model.get("model")) send(connectMessage(picker.value));
  });

  const root = h(
    "div",
    { class: "llmw llmw-server" },
    h("div", { class: "llmw-head" }, h("div", { class: "llmw-title" }, "Model server"), badge, where),
    h(
      "div",
      { class: "llmw-server-form" },
      h("label", {}, "URL"),
      url,
      h("label", {}, "API key"),
      key,
      h("label", {}, "Model"),
      picker,
    ),
    h("div", { class: "llmw-actions" }, connectButton, disconnectButton, forgetButton),
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
    const env = model.get("api_key_env");
    key.placeholder = model.get("has_key") ? "a key is held by the kernel" : `optional; else $${env}`;
    forgetButton.hidden = !model.get("has_key");
    // one of the two at a time: connected, Disconnect; otherwise Connect
    connectButton.hidden = status === "connected";
    disconnectButton.hidden = status !== "connected";
    if (!connectButton.hasAttribute("aria-busy")) connectButton.disabled = status === "connecting";
    const models = model.get("models") || [];
    const current = model.get("model");
    const names = models.length ? models : current ? [current] : [];
    picker.replaceChildren(
      ...(names.length ? names : [""]).map((name) =>
        h("option", { value: name, selected: name === current }, name || "the server's first model"),
      ),
    );
    picker.disabled = names.length < 2;
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
