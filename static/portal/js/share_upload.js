// Upload-only share links (/s/<token>): files dropped on the page, or chosen, are sent at
// once, one request per file, each with a progress bar named by the file and its own outcome
// (sent, or why not) beside it. Without JavaScript the form posts the files as it is.
//
// Each file carries an Idempotency-Key of its own, kept for its retries, so a request whose
// answer was lost and that the visitor sends again does not add the file twice.

const form = document.querySelector("form[data-share-upload]");
const list = document.querySelector("[data-upload-list]");
const summary = document.querySelector("[data-upload-summary]");
const queue = [];
let running = false;
let sent = 0;

function newKey() {
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const REFUSALS = {
  404: "This link no longer takes files.",
  410: "This link has expired.",
  429: "Too many attempts; wait a few minutes and try again.",
  413: "This file is too large.",
};

function reason(xhr) {
  try {
    const body = JSON.parse(xhr.responseText);
    if (body && body.detail) return body.detail;
  } catch {
    // Not JSON: one of the link's own pages (gone, throttled) or a proxy's error.
  }
  return REFUSALS[xhr.status] || `The upload failed (${xhr.status || "no connection"}).`;
}

function row(file) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", file.name);
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = "Waiting";
  item.append(name, bar, state);
  list.hidden = false;
  list.append(item);
  return { item, bar, state };
}

function send(job) {
  return new Promise((resolve) => {
    const body = new FormData();
    body.append("file", job.file, job.file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    xhr.setRequestHeader("Idempotency-Key", job.key);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) job.ui.bar.value = Math.round((event.loaded / event.total) * 100);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        job.ui.bar.value = 100;
        job.ui.state.textContent = "Sent";
        job.ui.item.classList.add("done");
        sent += 1;
      } else {
        job.ui.state.textContent = reason(xhr);
        job.ui.item.classList.add("failed");
      }
      resolve();
    });
    xhr.addEventListener("error", () => {
      job.ui.state.textContent = "The connection failed; send the file again.";
      job.ui.item.classList.add("failed");
      resolve();
    });
    job.ui.state.textContent = "Sending…";
    xhr.send(body);
  });
}

async function drain() {
  if (running) return;
  running = true;
  while (queue.length) await send(queue.shift());
  running = false;
  summary.textContent = `${sent} file${sent === 1 ? "" : "s"} received.`;
}

function add(files) {
  for (const file of files) queue.push({ file, key: newKey(), ui: row(file) });
  drain();
}

if (form && list) {
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector("[data-dropzone]");
  input.addEventListener("change", () => {
    add(Array.from(input.files));
    input.value = "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    add(Array.from(input.files));
    input.value = "";
  });
  // The whole page takes drops, so a visitor need not aim at the box.
  document.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    zone.classList.add("over");
  });
  document.addEventListener("dragleave", (event) => {
    if (event.target === document.documentElement || event.target === zone) zone.classList.remove("over");
  });
  document.addEventListener("drop", (event) => {
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    zone.classList.remove("over");
    add(Array.from(event.dataTransfer.files));
  });
}
