// Sending files from the browser: what the team's upload control (upload.js) and the
// upload-only share page (share_upload.js) both need.

// XMLHttpRequest rather than fetch: only it reports an upload's progress. Resolves with the
// status (0 when the connection failed) and the JSON answer, if the answer was JSON.
export function send({ method, url, body = null, headers = {}, onProgress = null }) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onProgress) xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    xhr.addEventListener("load", () => {
      let json = null;
      try {
        json = JSON.parse(xhr.responseText);
      } catch {
        json = null;
      }
      resolve({ status: xhr.status, json });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, json: null }));
    xhr.addEventListener("abort", () => resolve({ status: 0, json: null }));
    xhr.send(body);
  });
}

// An Idempotency-Key: crypto.randomUUID exists only in secure contexts.
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
