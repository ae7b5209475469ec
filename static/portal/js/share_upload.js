// Upload-only share links (/s/<token>): files dropped on the page, or chosen, are sent at
// once, one request per file, each with a progress bar named by the file and its own outcome
// (sent, or why not) beside it. Without JavaScript the form posts the files as it is.
//
// Each file carries an Idempotency-Key of its own, kept for its retries, so a request whose
// answer was lost and that the visitor sends again does not add the file twice.

import { randomId, send } from "./transfer.js";

const form = document.querySelector("form[data-share-upload]");
const list = document.querySelector("[data-upload-list]");
const summary = document.querySelector("[data-upload-summary]");
const queue = [];
let running = false;
let sent = 0;

const REFUSALS = {
  404: "This link no longer takes files.",
  410: "This link has expired.",
  429: "Too many attempts; wait a few minutes and try again.",
  413: "This file is too large.",
};

function reason(answer) {
  // Not JSON: one of the link's own pages (gone, throttled) or a proxy's error.
  if (answer.json && answer.json.detail) return answer.json.detail;
  return REFUSALS[answer.status] || `The upload failed (${answer.status || "no connection"}).`;
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

async function upload(job) {
  const body = new FormData();
  body.append("file", job.file, job.file.name);
  job.ui.state.textContent = "Sending…";
  const answer = await send({
    method: "POST",
    url: form.action,
    body,
    headers: {
      Accept: "application/json",
      "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
      "Idempotency-Key": job.key,
    },
    onProgress: (loaded) => { job.ui.bar.value = Math.round((loaded / job.file.size) * 100) || 0; },
  });
  if (answer.status === 201) {
    job.ui.bar.value = 100;
    job.ui.state.textContent = "Sent";
    job.ui.item.classList.add("done");
    sent += 1;
  } else if (answer.status === 0) {
    job.ui.state.textContent = "The connection failed; send the file again.";
    job.ui.item.classList.add("failed");
  } else {
    job.ui.state.textContent = reason(answer);
    job.ui.item.classList.add("failed");
  }
}

async function drain() {
  if (running) return;
  running = true;
  while (queue.length) await upload(queue.shift());
  running = false;
  summary.textContent = `${sent} file${sent === 1 ? "" : "s"} received.`;
}

function add(files) {
  for (const file of files) queue.push({ file, key: randomId(), ui: row(file) });
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
