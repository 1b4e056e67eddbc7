// The widget protocol (docs/protocol.md), as types. Python validates every message it receives.

export type DownloadStatus = "idle" | "queued" | "running" | "done" | "cancelled" | "failed";
export type LoadStatus = "unloaded" | "loading" | "loaded" | "failed";

export interface ModelCardState {
  limits: Limits;
  repo_id: string;
  filename: string;
  revision: string;
  status: DownloadStatus;
  progress: number;
  is_downloading: boolean;
  error: string;
  size: number;
  bytes_done: number;
  speed: number;
  eta: number;
  detail: string;
  load_status: LoadStatus;
  load_progress: number;
  load_detail: string;
  model_info: Record<string, string | number | boolean>;
  quant: string;
  fit: string;
  fit_detail: string;
  n_ctx: number;
  engine: string;
}

export type ModelCardRequest = { type: "sync" | "download" | "cancel" | "retry" | "load" | "unload" | "stop_running" };

export interface ChatState {
  limits: Limits;
  status: "idle" | "generating";
  detail: string;
  error: string;
  system_prompt: string;
  temperature: number;
  top_p: number;
  max_tokens: number;
  model_name: string;
  model_label: string;
  model_detail: string;
  model_server: string;
  model_engine: string;
  last_stats: Partial<GenerationStats>;
  trim_history: boolean;
  think: boolean | "low" | "medium" | "high" | null;
  can_think: boolean;
  model_defaults: Record<string, number>;
  model_note: string;
  mode: "chat" | "completion";
  persist_transcript: boolean;
  tool_names: string[];
  transcript: ChatMessage[];
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  reasoning_content?: string;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

/** One tool call and what became of it (Python's `ToolCallRecord`). */
export interface ToolCallView {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  result: string;
  error: string | null;
  approved: boolean | null;
  seconds: number;
  status: "waiting" | "running" | "done" | "error" | "declined" | "stopped" | "not run";
  note: string;
  /** What the function printed (stdout and stderr) while it ran. */
  output: string;
  /** The MCP server whose tool this is ("" or absent: a Python function). */
  server?: string;
}

export interface GenerationStats {
  prompt_tokens: number;
  completion_tokens: number;
  cached_prompt_tokens: number;
  ttft: number;
  tokens_per_second: number;
  total_time: number;
  stop_reason: string;
  trimmed_messages: number;
  reasoning_seconds: number;
  reasoning_tokens: number;
}

export type ChatRequest =
  | { type: "send"; text: string }
  | { type: "regenerate" }
  | { type: "edit_last"; text: string }
  | { type: "stop" }
  | { type: "stop_running" }
  | { type: "clear" }
  | { type: "sync" }
  | { type: "approve"; call_id: string }
  | { type: "deny"; call_id: string };

export interface SearchResult {
  repo_id: string;
  downloads: number;
  likes: number;
  last_modified: string;
  gated: boolean | string;
}

export interface LocalModel {
  repo_id: string;
  filename: string;
  size: number;
  quant: string;
  partial: boolean;
  stale: boolean;
  /** A download of it is running (its partial grows: no Resume or Discard). */
  downloading: boolean;
  bytes_done: number;
  revision: string;
  loaded: boolean;
}

export interface ModelBrowserState {
  limits: Limits;
  query: string;
  status: "idle" | "searching" | "offline" | "error";
  results: SearchResult[];
  selected_repo: string;
  files_status: "idle" | "loading" | "error";
  files: RepoFile[];
  error: string;
  max_concurrent_downloads: number;
}

/** One model of the picked repo (a split model: all its parts, `size` summed). */
export interface RepoFile {
  filename: string;
  quant: string;
  size: number;
  parts: number;
  fit: string;
  fit_detail: string;
  recommended: boolean;
  status: string;
}

export type ModelBrowserRequest =
  | { type: "sync" }
  | { type: "search"; query: string }
  | { type: "pick"; repo_id: string }
  | { type: "download"; filename: string };

export interface LocalLibraryState {
  limits: Limits;
  local: LocalModel[];
  local_total: number;
  error: string;
}

export type LocalLibraryRequest =
  | { type: "delete" | "discard" | "resume" | "load"; repo_id: string; filename: string }
  | { type: "unload" }
  | { type: "refresh" }
  | { type: "sync" };

export interface ServerConnectionState {
  limits: Limits;
  error: string;
  base_url: string;
  api_key_env: string;
  status: "disconnected" | "connecting" | "connected" | "failed";
  server: string;
  model: string;
  models: string[];
  has_key: boolean;
}

export type ServerConnectionRequest =
  | { type: "connect"; base_url: string; model?: string; api_key?: string }
  | { type: "disconnect" }
  | { type: "forget_key" }
  | { type: "sync" };

export interface BatchRunState {
  limits: Limits;
  error: string;
  status: "queued" | "running" | "done" | "cancelled" | "failed";
  detail: string;
  total: number;
  completed: number;
  failed: number;
  reused: number;
  progress: number;
  tokens_per_second: number;
  items_per_second: number;
  eta: number;
  errors: { index: number; error: string }[];
  recent: { index: number; input: string; output: string; expected?: string; correct?: boolean }[];
  expected: string;
  correct: number;
  accuracy_text: string; // "33 of 40 right (82%)": Python rounds it, as a notebook's print does
  tokens_per_item: number;
  resumed: boolean;
}

export type BatchRunRequest = { type: "stop" } | { type: "resume" } | { type: "sync" };

export interface CompareCell {
  state: "pending" | "running" | "done" | "failed";
  text: string;
  completion_tokens: number; // -1 while blind: figures show once the names are revealed
  ttft: number;
  tokens_per_second: number;
  error: string;
  reused: boolean;
  cut: boolean; // the answer stopped at max_tokens
}

export interface CompareSummary {
  done: number;
  failed: number;
  tokens_per_second: number;
  ttft: number;
  agreement: number;
}

export interface CompareState {
  limits: Limits;
  error: string;
  status: "queued" | "running" | "done" | "cancelled" | "failed";
  detail: string;
  progress: number;
  total: number;
  completed: number;
  failed: number;
  reused: number;
  models: string[];
  prompts: string[];
  cells: CompareCell[][];
  summary: CompareSummary[];
  blind: boolean;
  revealed: boolean;
  picks: number[];
  tally: number[];
}

export type CompareRequest =
  | { type: "stop" }
  | { type: "resume" }
  | { type: "pick"; row: number; column: number }
  | { type: "reveal" }
  | { type: "sync" };

export type Notice = { type: "notice"; level: "info" | "success" | "error"; text: string };

/** Python's answer to a message that carried a `request_id`. */
export type Ack = { type: "ack"; request_id: string; ok: boolean; error: string };

/** Bounds of the numbers a view edits, declared once in Python (`_protocol.TRAIT_BOUNDS`). */
export type Limits = Record<string, [number, number]>;
