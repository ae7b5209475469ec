// Uploads from the browse page (templates/files/_upload.html): files chosen with `Upload`,
// a folder chosen with `Upload folder`, or files and folders dropped anywhere on the page
// are uploaded at once through the API, each with a progress bar named by its file name and
// one named `All uploads`. A dropped folder keeps its structure (`relative_path`).
//
// Small files go in one POST to files/ (with an Idempotency-Key, so a retry can't make a
// copy). Larger ones, and any file over the team's limit (so that the API's refusal comes
// before a byte is sent), go through the resumable multipart API: the parts are PUT straight
// to S3, a few at a time. The session's id is kept in localStorage under the file's identity
// (name, size, last modified, where it goes), so choosing or dropping the same file again
// after a reload sends only the parts S3 does not hold yet.
//
// After each file that was stored, `files-changed` is dispatched on document.body: listings
// refresh on it (hx-trigger="files-changed from:body").

import { randomId, send } from "./transfer.js";

const FILES_AT_ONCE = 3;
const PARTS_AT_ONCE = 3;
const PART_URLS_PER_REQUEST = 8;
const ATTEMPTS = 3;
const STORAGE_PREFIX = "mediaportal.upload.";

// A refusal to show next to the file: the API's `detail`, with its status and `code`.
class UploadError extends Error {
  constructor(message, { status = 0, code = "" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function setUp(root) {
  const config = {
    filesUrl: root.dataset.filesUrl,
    uploadsUrl: root.dataset.uploadsUrl,
    folder: root.dataset.folder || "",
    threshold: Number(root.dataset.threshold),
    maxBytes: Number(root.dataset.maxBytes),
    csrf: root.dataset.csrf,
  };
  const ui = {
    panel: root.querySelector("[data-upload-panel]"),
    list: root.querySelector("[data-upload-list]"),
    overall: root.querySelector("[data-upload-overall]"),
    summary: root.querySelector("[data-upload-summary]"),
  };
  const queue = new Queue(config, ui);
  root.querySelector("[data-upload-submit]").hidden = true;
  root.querySelector("[data-upload-hint]").hidden = false;

  const files = root.querySelector("[data-upload-files]");
  files.addEventListener("change", () => {
    queue.add([...files.files].map((file) => ({ file, dir: "" })));
    files.value = "";
  });
  const folder = root.querySelector("[data-upload-folder]");
  folder.addEventListener("change", () => {
    queue.add([...folder.files].map((file) => ({ file, dir: parentPath(file.webkitRelativePath) })));
    folder.value = "";
  });

  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth += 1;
    document.body.classList.add("upload-dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove("upload-dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", async (event) => {
    depth = 0;
    document.body.classList.remove("upload-dragging");
    // Text or links dragged within the page (into the search box, say) are not ours.
    if (!carriesFiles(event)) return;
    event.preventDefault();
    queue.add(await droppedFiles(event.dataTransfer));
  });
}

// "Trip/Day 1/a.jpg" → "Trip/Day 1".
function parentPath(path) {
  const parts = (path || "").split("/");
  return parts.slice(0, -1).join("/");
}

// What was dropped, with each file's folder path. The entries must be taken during the drop
// event itself; a DataTransfer built by script may give no entries, and then its files are used.
async function droppedFiles(dataTransfer) {
  const items = [...(dataTransfer.items || [])].filter((item) => item.kind === "file");
  const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  if (!entries.length || entries.some((entry) => !entry)) {
    return [...dataTransfer.files].map((file) => ({ file, dir: "" }));
  }
  const found = [];
  for (const entry of entries) await walk(entry, "", found);
  return found;
}

async function walk(entry, dir, found) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    found.push({ file, dir });
    return;
  }
  const below = dir ? `${dir}/${entry.name}` : entry.name;
  const reader = entry.createReader();
  // readEntries answers in batches (100 in Chromium) until it gives an empty one.
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const child of batch) await walk(child, below, found);
  }
}

class Queue {
  constructor(config, ui) {
    this.config = config;
    this.ui = ui;
    this.items = [];
    this.waiting = [];
    this.running = 0;
  }

  add(chosen) {
    if (!chosen.length) return;
    this.ui.panel.hidden = false;
    for (const { file, dir } of chosen) {
      const item = new Item(file, dir, this);
      this.items.push(item);
      this.waiting.push(item);
    }
    this.update();
    this.next();
  }

  next() {
    while (this.running < FILES_AT_ONCE && this.waiting.length) {
      const item = this.waiting.shift();
      this.running += 1;
      item.run().finally(() => {
        this.running -= 1;
        this.update();
        this.next();
      });
    }
  }

  update() {
    const total = this.items.reduce((sum, item) => sum + item.size, 0);
    const loaded = this.items.reduce((sum, item) => sum + (item.finished ? item.size : item.loaded), 0);
    setProgress(this.ui.overall, total ? (100 * loaded) / total : 100);
    const done = this.items.filter((item) => item.state === "done").length;
    const failed = this.items.filter((item) => item.state === "failed").length;
    const parts = [`${done} of ${this.items.length} uploaded`];
    if (failed) parts.push(`${failed} failed`);
    this.ui.summary.textContent = parts.join(", ");
  }
}

function setProgress(bar, percent) {
  const value = Math.max(0, Math.min(100, Math.floor(percent)));
  bar.value = value;
  bar.setAttribute("aria-valuenow", String(value));
}

class Item {
  constructor(file, dir, queue) {
    this.file = file;
    this.dir = dir;
    this.queue = queue;
    this.config = queue.config;
    this.size = Math.max(file.size, 1);
    this.loaded = 0;
    this.finished = false;
    this.state = "waiting";
    this.row = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = dir ? `${dir}/${file.name}` : file.name;
    name.title = name.textContent;
    this.bar = document.createElement("progress");
    this.bar.max = 100;
    this.bar.setAttribute("aria-label", file.name);
    setProgress(this.bar, 0);
    this.status = document.createElement("span");
    this.status.className = "state";
    this.status.textContent = "waiting";
    this.row.append(name, this.bar, this.status);
    queue.ui.list.append(this.row);
  }

  progress(loaded) {
    this.loaded = Math.min(loaded, this.size);
    setProgress(this.bar, (100 * this.loaded) / this.size);
    if (this.state === "sending" && this.loaded >= this.size) this.status.textContent = "storing";
    this.queue.update();
  }

  show(state, text) {
    this.state = state;
    this.row.className = state;
    this.status.textContent = text;
  }

  async run() {
    this.show("sending", "uploading");
    try {
      const large = this.file.size > this.config.threshold || this.file.size > this.config.maxBytes;
      const file = large ? await new Multipart(this).run() : await this.post();
      this.finished = true;
      this.progress(this.size);
      this.show("done", file.status === "completed" ? "done" : "uploaded, processing");
      document.body.dispatchEvent(new CustomEvent("files-changed", { bubbles: true, detail: { file } }));
    } catch (error) {
      this.finished = true;
      this.show("failed", error instanceof UploadError ? error.message : "The upload failed; try again.");
    }
  }

  // One POST to files/, retried with the same Idempotency-Key when the answer was lost.
  async post() {
    const key = randomId();
    for (let attempt = 1; ; attempt += 1) {
      const body = new FormData();
      body.append("file", this.file, this.file.name);
      if (this.config.folder) body.append("folder", this.config.folder);
      if (this.dir) body.append("relative_path", this.dir);
      const answer = await send({
        method: "POST",
        url: this.config.filesUrl,
        body,
        headers: { "X-CSRFToken": this.config.csrf, "Idempotency-Key": key, Accept: "application/json" },
        onProgress: (loaded) => this.progress(loaded),
      });
      if (answer.status === 200 || answer.status === 201) return answer.json;
      if (!retryable(answer.status) || attempt >= ATTEMPTS) throw refusal(answer);
      await pause(attempt);
    }
  }
}

// A resumable upload of one file through uploads/multipart/.
class Multipart {
  constructor(item) {
    this.item = item;
    this.config = item.config;
    const file = item.file;
    this.storageKey = STORAGE_PREFIX + [file.name, file.size, file.lastModified, this.config.folder, item.dir].join("|");
    this.sent = new Map();
  }

  async run() {
    try {
      return await this.send();
    } catch (error) {
      // Refused for good (expired, completed, not allowed): the next try starts afresh. Lost
      // connections and server errors keep the session, to resume from.
      const final = error.status >= 400 && error.status < 500 && error.code !== "parts_missing";
      if (final) localStorage.removeItem(this.storageKey);
      throw error;
    }
  }

  async send() {
    let session = await this.resume();
    if (!session) session = await this.start();
    this.session = session;
    for (const part of session.parts) this.sent.set(part.number, part.size);
    this.report();
    for (let round = 1; ; round += 1) {
      await this.sendParts(session.missing);
      const answer = await this.api("POST", `${session.id}/complete/`, {});
      if (answer.status === 200 || answer.status === 201) {
        localStorage.removeItem(this.storageKey);
        return answer.json;
      }
      // S3 misses a part we believe sent (a PUT that failed unnoticed): send those again.
      if (answer.status === 409 && answer.json?.code === "parts_missing" && round < ATTEMPTS) {
        session = { ...session, missing: answer.json.missing };
        for (const number of session.missing) this.sent.delete(number);
        continue;
      }
      throw refusal(answer);
    }
  }

  // The session this file was being sent with before (a reload), if S3 still has it.
  async resume() {
    const id = localStorage.getItem(this.storageKey);
    if (!id) return null;
    const answer = await this.api("GET", `${id}/`);
    const live = answer.status === 200 && answer.json.state === "pending";
    if (live && answer.json.size === this.item.file.size && new Date(answer.json.expires_at) > new Date()) {
      this.item.show("sending", "resuming");
      return answer.json;
    }
    localStorage.removeItem(this.storageKey);
    return null;
  }

  async start() {
    const file = this.item.file;
    const answer = await this.api("POST", "multipart/", {
      filename: file.name,
      size: file.size,
      content_type: file.type || "",
      folder: this.config.folder || null,
      relative_path: this.item.dir,
    });
    if (answer.status !== 201) throw refusal(answer);
    localStorage.setItem(this.storageKey, answer.json.id);
    return answer.json;
  }

  async sendParts(numbers) {
    const todo = [...numbers];
    const urls = new Map();
    const urlFor = async (number) => {
      if (!urls.has(number)) {
        const batch = [number, ...todo.slice(0, PART_URLS_PER_REQUEST - 1)];
        const answer = await this.api("POST", `${this.session.id}/parts/`, { parts: batch });
        if (answer.status !== 200) throw refusal(answer);
        for (const part of answer.json.parts) urls.set(part.number, part);
      }
      return urls.get(number);
    };
    const worker = async () => {
      while (todo.length) {
        const number = todo.shift();
        await this.sendPart(number, urlFor, () => urls.delete(number));
      }
    };
    await Promise.all(Array.from({ length: PARTS_AT_ONCE }, worker));
  }

  // One part's PUT to S3, tried again (with a fresh URL: it may have expired) when it fails.
  async sendPart(number, urlFor, forgetUrl) {
    for (let attempt = 1; ; attempt += 1) {
      const part = await urlFor(number);
      const start = (number - 1) * this.session.part_size;
      const bytes = this.item.file.slice(start, start + part.size);
      const answer = await send({
        method: "PUT",
        url: part.url,
        body: bytes,
        onProgress: (loaded) => this.report(part.number, loaded),
      });
      if (answer.status === 200) {
        this.sent.set(part.number, part.size);
        this.report();
        return;
      }
      this.report(part.number, 0);
      if (attempt >= ATTEMPTS) throw new UploadError("Storage did not accept a part of this file; choose it again to resume.");
      forgetUrl();
      await pause(attempt);
    }
  }

  // Bytes S3 holds, plus those of the parts on their way.
  report(number, loaded) {
    if (!this.inFlight) this.inFlight = new Map();
    if (number !== undefined) this.inFlight.set(number, loaded);
    let total = 0;
    for (const size of this.sent.values()) total += size;
    for (const [n, bytes] of this.inFlight) if (!this.sent.has(n)) total += bytes;
    this.item.progress(total);
  }

  api(method, path, body) {
    return send({
      method,
      url: this.config.uploadsUrl + path,
      body: body === undefined ? null : JSON.stringify(body),
      headers: {
        "X-CSRFToken": this.config.csrf,
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
    });
  }
}

function retryable(status) {
  return status === 0 || status === 502 || status === 503 || status === 504;
}

function refusal(answer) {
  const about = { status: answer.status, code: answer.json?.code || "" };
  if (answer.json && answer.json.detail) return new UploadError(answer.json.detail, about);
  if (answer.status === 0) return new UploadError("The connection was lost; choose the file again to retry.", about);
  return new UploadError(`The upload failed (HTTP ${answer.status}); try again.`, about);
}

function pause(attempt) {
  return new Promise((resolve) => setTimeout(resolve, 500 * 2 ** (attempt - 1)));
}

// Last: classes are not hoisted, so the page is set up once they all exist.
const uploader = document.querySelector("[data-uploader]");
if (uploader) setUp(uploader);
