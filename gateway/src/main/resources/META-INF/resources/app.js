// The vqwen page: pick an image, ask, watch the answer stream. Plain browser JavaScript, no build step.
//
// Data path: file -> POST v1/images as soon as it is chosen (the gateway hashes it and starts vision + projector
// while the person types) -> {"id":"sha256:<hex>"} -> chat request whose image_url is that id -> SSE
// chat.completion.chunk events read from fetch's body stream -> text in the page -> usage + timings at the end.
//
// Every URL is relative (no leading slash), so the page works wherever the gateway is mounted: `./vqwen up` on
// localhost, or behind a Helm-deployed Ingress under a path prefix.
"use strict";

const API = {
  models: "v1/models",
  images: "v1/images",
  chat: "v1/chat/completions",
  // The async captioning jobs (Kafka); the gateway forwards them to the caption worker.
  jobs: "v1/jobs",
};
const JOB_POLL_MS = 1000;
const IMAGE_POLL_MS = 250;
const KEY_STORAGE = "vqwen.apiKey";

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- errors

/** A failure the person should read: the gateway's OpenAI error message, with its HTTP status and code. */
class ApiError extends Error {
  constructor(message, status, code, retryAfter) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Reads OpenAI's {"error":{"message","code"}} from a failed response; falls back to the status line. */
async function errorOf(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // Not JSON (a proxy's HTML error page, say): the status line is all there is.
  }
  const e = body && body.error;
  const message = e && e.message ? e.message : `HTTP ${resp.status} ${resp.statusText}`.trim();
  return new ApiError(message, resp.status, e ? e.code : null, resp.headers.get("Retry-After"));
}

/** The sentence shown for a failure: overloaded and unreachable servers say what to do next. */
function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 429) {
      return `The server is busy: ${err.message}` + (err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "");
    }
    if (err.status === 413) return `Too large for this server: ${err.message}`;
    return err.message;
  }
  if (err instanceof TypeError) {
    // fetch rejects with a TypeError when the server cannot be reached at all.
    return `Cannot reach the server: ${err.message}`;
  }
  return err && err.message ? err.message : String(err);
}

function showError(box, err) {
  box.textContent = typeof err === "string" ? err : describe(err);
  box.hidden = false;
}

function clearError(box) {
  box.textContent = "";
  box.hidden = true;
}

// ---------------------------------------------------------------- API keys

const auth = {
  key: sessionStorage.getItem(KEY_STORAGE),
  asking: null, // the open dialog's promise, shared by every request that got a 401 meanwhile
};

/** Opens the key dialog; resolves to the key, or null when the person cancels. */
function askKey(reason) {
  if (auth.asking) return auth.asking;
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason + " The key is kept for this browser tab only and sent as "
      + "'Authorization: Bearer <key>'.";
  $("key-input").value = "";
  auth.asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      auth.asking = null;
      const key = $("key-input").value.trim();
      resolve(dialog.returnValue === "ok" && key ? key : null);
    }, {once: true});
  });
  dialog.returnValue = "";
  dialog.showModal();
  $("key-input").focus();
  return auth.asking;
}

/**
 * fetch with the API key: a 401 opens the key dialog and the request is sent again with the new key, until the
 * server accepts it or the person cancels. Bodies are strings or Blobs, so they can be sent twice.
 */
async function api(path, init = {}) {
  for (;;) {
    const headers = new Headers(init.headers || {});
    if (auth.key) headers.set("Authorization", "Bearer " + auth.key);
    const resp = await fetch(path, {...init, headers});
    if (resp.status !== 401) return resp;
    const err = await errorOf(resp);
    const key = await askKey(auth.key ? `The server refused the API key: ${err.message}` : err.message);
    if (key === null) throw new ApiError(`${err.message} (no API key given)`, 401, err.code, null);
    auth.key = key;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-button").hidden = false;
  }
}

// ---------------------------------------------------------------- SSE

/**
 * Splits a text/event-stream into the data of its events (the EventSource rules that OpenAI streams use: lines end
 * in \n or \r\n, an empty line ends an event, "data:" lines are joined with \n, ":" lines are comments). Fed in
 * arbitrary pieces: a network chunk may end mid-line or mid-character (TextDecoderStream handles the latter).
 */
class SseParser {
  constructor() {
    this.partial = "";
    this.data = [];
  }

  /** Returns the data of every event completed by this piece. */
  push(text) {
    const events = [];
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop();
    for (let line of lines) {
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (this.data.length) events.push(this.data.join("\n"));
        this.data = [];
      } else if (line.startsWith("data:")) {
        this.data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
      // "event:", "id:", "retry:" and ":" comments carry nothing for a chat stream.
    }
    return events;
  }
}

// ---------------------------------------------------------------- image: upload-time encoding

const image = {
  file: null,
  previewUrl: null,
  upload: null, // Promise of the sha256:<hex> id of the current file
  generation: 0, // bumps on every new file, so a slow upload of the previous file cannot overwrite the state
};

function setImageStatus(text, state) {
  const s = $("image-status");
  s.textContent = text;
  s.dataset.state = state;
}

function chooseImage(file) {
  if (!file) return;
  clearError($("error"));
  if (image.previewUrl) URL.revokeObjectURL(image.previewUrl);
  image.file = file;
  image.previewUrl = URL.createObjectURL(file);
  const preview = $("preview");
  preview.src = image.previewUrl;
  preview.alt = `Preview of ${file.name}`;
  preview.hidden = false;
  $("drop-hint").textContent = `${file.name} (${formatBytes(file.size)}): drop or choose another`;
  $("clear-image").hidden = false;
  startUpload();
}

function clearImage() {
  image.generation++;
  if (image.previewUrl) URL.revokeObjectURL(image.previewUrl);
  Object.assign(image, {file: null, previewUrl: null, upload: null});
  const preview = $("preview");
  preview.removeAttribute("src");
  preview.alt = "";
  preview.hidden = true;
  $("image").value = "";
  $("drop-hint").innerHTML = "Drop an image here, or <u>choose a file</u>";
  $("clear-image").hidden = true;
  setImageStatus("No image: the question is sent as text only.", "none");
}

/** Sends the current file to POST v1/images now; the encoder runs while the person writes the prompt. */
function startUpload() {
  const gen = ++image.generation;
  const file = image.file;
  setImageStatus("Uploading…", "uploading");
  image.upload = uploadImage(file).then((o) => {
    if (gen === image.generation) {
      setImageStatus(`Encoding on the server… (${o.id.slice(0, 19)}…)`, "encoding");
      watchEncoding(o.id, gen, o.status);
    }
    return o.id;
  }, (err) => {
    if (gen === image.generation) {
      setImageStatus(`Upload failed: ${describe(err)}`, "failed");
      showError($("error"), err);
    }
    throw err;
  });
  // Send awaits this promise and reports the failure itself; this keeps the browser from logging it as unhandled.
  image.upload.catch(() => {});
}

async function uploadImage(file) {
  const resp = await api(API.images, {
    method: "POST",
    headers: {"Content-Type": file.type || "application/octet-stream"},
    body: file,
  });
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

/** Polls GET v1/images/{id} until the embeddings are ready, only to tell the person; Send does not wait for it. */
async function watchEncoding(id, gen, status) {
  const t0 = performance.now();
  while (gen === image.generation) {
    if (status === "ready") {
      setImageStatus(`Encoded and cached on the server (${id.slice(0, 19)}…): Send skips the image encoder.`, "ready");
      return;
    }
    if (status === "failed") {
      setImageStatus("The server could not encode this image.", "failed");
      return;
    }
    if (performance.now() - t0 > 120000) return;
    await sleep(IMAGE_POLL_MS);
    try {
      const resp = await api(`${API.images}/${encodeURIComponent(id)}`);
      if (resp.status === 404) return; // evicted already: Send re-uploads
      if (!resp.ok) return;
      const o = await resp.json();
      status = o.status;
      if (status === "failed" && gen === image.generation) {
        setImageStatus(`The server could not encode this image: ${o.error || "unknown error"}`, "failed");
        return;
      }
    } catch {
      return;
    }
  }
}

/** The id of the current image for a chat request: waits for its upload, and uploads again after a failure. */
async function imageId() {
  try {
    return await image.upload;
  } catch (err) {
    // A refused image (too large, not an image) stays refused; anything else (network) gets a second upload.
    if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
    startUpload();
    return image.upload;
  }
}

// ---------------------------------------------------------------- chat

let running = null; // the AbortController of the answer being streamed
let sends = 0; // numbers the answers, so a reader of the page (or a test) can tell a new answer from the last one

function readSettings() {
  const prompt = $("prompt").value.trim();
  if (!prompt) throw new Error("Write a prompt first.");
  const maxTokens = Number($("max-tokens").value);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error("Max tokens must be a whole number of at least 1.");
  const temperature = Number($("temperature").value);
  if ($("temperature").value.trim() === "" || !Number.isFinite(temperature) || temperature < 0 || temperature > 2) {
    throw new Error("Temperature must be a number from 0 to 2 (0 is greedy).");
  }
  return {prompt, maxTokens, temperature};
}

function chatBody(settings, imageUrl, stream) {
  const content = [];
  if (imageUrl) content.push({type: "image_url", image_url: {url: imageUrl}});
  content.push({type: "text", text: settings.prompt});
  const body = {
    messages: [{role: "user", content}],
    max_tokens: settings.maxTokens,
    temperature: settings.temperature,
  };
  if (models.id) body.model = models.id;
  if (stream) Object.assign(body, {stream: true, stream_options: {include_usage: true}});
  return body;
}

function postChat(settings, id, signal) {
  return api(API.chat, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "text/event-stream"},
    body: JSON.stringify(chatBody(settings, id, true)),
    signal,
  });
}

async function send(event) {
  if (event) event.preventDefault();
  if (running) return;
  const errorBox = $("error");
  clearError(errorBox);
  let settings;
  try {
    settings = readSettings();
  } catch (err) {
    showError(errorBox, err);
    return;
  }
  const answer = new Answer();
  const ctrl = new AbortController();
  running = ctrl;
  setRunning(true);
  try {
    let id = image.file ? await imageId() : null;
    ctrl.signal.throwIfAborted();
    answer.start();
    let resp = await postChat(settings, id, ctrl.signal);
    if (!resp.ok) {
      const err = await errorOf(resp);
      if (!(id && err.status === 400 && err.code === "image_not_found")) throw err;
      // The gateway's embedding cache is bounded and per replica: it forgot this image. Upload it again, once.
      setImageStatus("The server no longer had this image; uploading it again…", "uploading");
      startUpload();
      id = await image.upload;
      answer.start();
      resp = await postChat(settings, id, ctrl.signal);
      if (!resp.ok) throw await errorOf(resp);
    }
    await answer.read(resp);
  } catch (err) {
    if (err && err.name === "AbortError") {
      answer.stopped();
    } else {
      answer.failed();
      showError(errorBox, err);
    }
  } finally {
    running = null;
    setRunning(false);
  }
}

function stop() {
  // Aborting the fetch closes the connection; the gateway cancels the decoder's stream, which frees the sequence.
  if (running) running.abort();
}

function setRunning(on) {
  $("send").disabled = on;
  $("stop").disabled = !on;
  $("answer").setAttribute("aria-busy", String(on));
  if (!on && document.activeElement === $("stop")) $("send").focus();
}

/** One streamed answer: its text, live statistics, then the server's usage and timings. */
class Answer {
  constructor() {
    this.out = $("answer");
    this.out.textContent = "";
    this.out.dataset.state = "waiting";
    this.out.dataset.answer = String(++sends);
    $("timings").textContent = "";
    for (const id of ["stat-ttft", "stat-tps", "stat-tokens", "stat-cache"]) $(id).textContent = "–";
  }

  start() {
    this.t0 = performance.now();
    this.first = null;
    this.last = null;
    this.chunks = 0;
    this.usage = null;
    this.timings = null;
    this.finish = null;
    this.done = false;
    this.out.textContent = "";
    this.text = document.createTextNode("");
    this.out.append(this.text);
  }

  async read(resp) {
    this.out.dataset.state = "streaming";
    const parser = new SseParser();
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      for (const data of parser.push(value)) this.event(data);
    }
    if (!this.done) {
      throw new Error("The stream ended before the answer was complete (no [DONE]): the connection was cut.");
    }
    this.out.dataset.state = "done";
    this.out.dataset.finish = this.finish || "";
    this.render(true);
  }

  event(data) {
    if (data === "[DONE]") {
      this.done = true;
      return;
    }
    const o = JSON.parse(data);
    // Mid-stream failure: the gateway's last event is an error object instead of [DONE].
    if (o.error) throw new ApiError(o.error.message, 0, o.error.code, null);
    const choice = o.choices && o.choices[0];
    const delta = choice && choice.delta && choice.delta.content;
    if (delta) {
      const now = performance.now();
      if (this.first === null) this.first = now;
      this.last = now;
      this.chunks++;
      this.text.appendData(delta);
    }
    if (choice && choice.finish_reason) this.finish = choice.finish_reason;
    if (o.usage) this.usage = o.usage;
    if (o.timings) this.timings = o.timings;
    this.render(false);
  }

  render(final) {
    if (this.first !== null) {
      let ttft = `${Math.round(this.first - this.t0)} ms`;
      if (this.timings) ttft += ` (server ${Math.round(this.timings.ttft_ms)} ms)`;
      $("stat-ttft").textContent = ttft;
    }
    // One content chunk is one token until usage gives the exact count.
    const tokens = this.usage ? this.usage.completion_tokens : this.chunks;
    $("stat-tokens").textContent = String(tokens);
    if (this.timings && final) {
      $("stat-tps").textContent = this.timings.tokens_per_s.toFixed(1);
    } else if (this.chunks > 1 && this.last > this.first) {
      $("stat-tps").textContent = ((this.chunks - 1) / ((this.last - this.first) / 1000)).toFixed(1);
    }
    if (this.timings) {
      const t = this.timings;
      $("stat-cache").textContent = t.embedding_cache === "hit" ? `cached at upload (${t.encode_ms.toFixed(1)} ms wait)`
          : t.embedding_cache === "miss" ? `ran for this request (${t.encode_ms.toFixed(1)} ms)` : "no image";
      $("timings").textContent = JSON.stringify(t, null, 2);
    }
  }

  stopped() {
    // The marker is drawn by CSS, so copying the answer copies only the model's text.
    this.out.dataset.state = "stopped";
    $("stat-tokens").textContent = String(this.chunks || 0);
  }

  failed() {
    this.out.dataset.state = "error";
  }
}

// ---------------------------------------------------------------- jobs (Kafka)

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

/** Submits the current image and prompt as an async captioning job, then polls it until it ends. */
async function submitJob() {
  const errorBox = $("job-error");
  clearError(errorBox);
  const button = $("job-submit");
  button.disabled = true;
  try {
    const settings = readSettings();
    // A job may run on any gateway replica, long after this page is gone: the image travels inline.
    const url = image.file ? await readAsDataUrl(image.file) : null;
    const resp = await api(API.jobs, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(chatBody(settings, url, false)),
    });
    if (!resp.ok) throw await errorOf(resp);
    const job = await resp.json();
    const item = addJobItem(job.id, settings.prompt, image.file ? image.file.name : null);
    pollJob(job.id, item);
  } catch (err) {
    showError(errorBox, err);
  } finally {
    button.disabled = false;
  }
}

function addJobItem(id, prompt, fileName) {
  const li = document.createElement("li");
  li.dataset.jobId = id;
  const head = document.createElement("div");
  head.className = "job-head";
  const name = document.createElement("code");
  name.textContent = id;
  const status = document.createElement("span");
  status.className = "job-status";
  head.append(name, " ", status);
  const what = document.createElement("div");
  what.className = "muted";
  what.textContent = (fileName ? `${fileName}: ` : "") + prompt;
  const result = document.createElement("div");
  result.className = "job-result";
  result.dir = "auto"; // captions may be in a right-to-left script
  li.append(head, what, result);
  $("jobs").prepend(li);
  setJobStatus(li, "queued");
  return li;
}

function setJobStatus(li, status, text) {
  li.dataset.status = status;
  li.querySelector(".job-status").textContent = status;
  if (text !== undefined) li.querySelector(".job-result").textContent = text;
}

async function pollJob(id, li) {
  for (;;) {
    await sleep(JOB_POLL_MS);
    let o;
    try {
      const resp = await api(`${API.jobs}/${encodeURIComponent(id)}`);
      if (!resp.ok) throw await errorOf(resp);
      o = await resp.json();
    } catch (err) {
      // Keep polling through a blip (a restarting gateway); say so meanwhile.
      setJobStatus(li, li.dataset.status, `Status unavailable, retrying: ${describe(err)}`);
      continue;
    }
    if (o.status === "completed") {
      setJobStatus(li, "completed", o.result && o.result.text !== undefined ? o.result.text : "");
      return;
    }
    if (o.status === "failed") {
      const e = o.error;
      setJobStatus(li, "failed", typeof e === "string" ? e : e && e.message ? e.message : "The job failed.");
      return;
    }
    setJobStatus(li, o.status || "queued", "");
  }
}

// ---------------------------------------------------------------- model, wiring

const models = {id: null};

async function loadModel() {
  const label = $("model");
  try {
    const resp = await api(API.models);
    if (!resp.ok) throw await errorOf(resp);
    const m = (await resp.json()).data[0];
    models.id = m.id;
    label.textContent = `model ${m.id}` + (m.max_model_len ? ` · context ${m.max_model_len} tokens` : "");
  } catch (err) {
    label.textContent = `model unknown: ${describe(err)}`;
  }
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function wire() {
  $("ask").addEventListener("submit", send);
  $("stop").addEventListener("click", stop);
  $("image").addEventListener("change", (e) => chooseImage(e.target.files[0]));
  $("clear-image").addEventListener("click", clearImage);
  $("job-submit").addEventListener("click", submitJob);
  $("key-button").hidden = !auth.key;
  $("key-button").addEventListener("click", async () => {
    const key = await askKey("Enter the API key to use from now on.");
    if (key !== null) {
      auth.key = key;
      sessionStorage.setItem(KEY_STORAGE, key);
    }
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      $("ask").requestSubmit();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && running && !$("key-dialog").open) stop();
  });

  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) chooseImage(file);
  });
  // A file dropped beside the zone must not make the browser navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  loadModel();
}

// For the browser tests and the curious: the parser, without the page around it.
window.vqwen = {SseParser};

wire();
