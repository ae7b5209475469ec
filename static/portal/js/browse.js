// The browse page: choosing files for the bulk bar (click, shift-click for a range, all on
// the page, all in the folder), the sort form, and the folder tree's keyboard and lazy
// expansion. The listing itself is htmx (infinite scroll, live status, refresh on upload);
// what is chosen is kept here by file id, so tiles swapped in by htmx keep their check.

const selected = new Set();
let wholeFolder = false;
let anchor = null; // the last box clicked: the start of a shift-click range

const boxes = () => [...document.querySelectorAll("input[data-select]")];
const bar = () => document.querySelector("[data-bulkbar]");

function render() {
  for (const box of boxes()) {
    box.checked = wholeFolder || selected.has(box.value);
    box.closest(".tile, tr")?.classList.toggle("selected", box.checked);
  }
  const root = bar();
  if (!root) return;
  const count = root.querySelector("[data-selected-count]");
  const all = root.querySelector("[data-select-all-field]");
  const matching = root.querySelector("[data-select-matching]");
  const page = root.querySelector("[data-select-page]");
  const loaded = boxes();
  all.value = wholeFolder ? "1" : "";
  count.textContent = wholeFolder ? "All files in this folder selected" : `${selected.size} selected`;
  root.querySelector("[data-bulk-actions]").hidden = !wholeFolder && selected.size === 0;
  page.checked = wholeFolder || (loaded.length > 0 && loaded.every((box) => selected.has(box.value)));
  matching.hidden = wholeFolder || !page.checked;
}

function choose(box, on) {
  if (on) selected.add(box.value); else selected.delete(box.value);
}

document.addEventListener("click", (event) => {
  const box = event.target.closest("input[data-select]");
  if (!box) return;
  if (wholeFolder) {
    // Leaving "all in this folder": what stays chosen is what is loaded, minus this one.
    wholeFolder = false;
    for (const other of boxes()) selected.add(other.value);
  }
  const list = boxes();
  if (event.shiftKey && anchor && list.includes(anchor)) {
    const [from, to] = [list.indexOf(anchor), list.indexOf(box)].sort((a, b) => a - b);
    for (const other of list.slice(from, to + 1)) choose(other, box.checked);
  } else {
    choose(box, box.checked);
  }
  anchor = box;
  render();
});

document.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-page]")) {
    wholeFolder = false;
    for (const box of boxes()) choose(box, event.target.checked);
    render();
  }
  const sort = event.target.closest("form[data-autosubmit]");
  if (sort) sort.requestSubmit();
});

document.addEventListener("click", (event) => {
  if (!event.target.closest("[data-select-matching]")) return;
  wholeFolder = true;
  render();
});

// After a bulk action the page reloads; a ZIP download does not, so it keeps the choice.
document.body.addEventListener("htmx:afterSettle", render);
document.body.addEventListener("htmx:oobAfterSwap", render);

// --- The folder tree: arrows move, right/left open and close, Enter follows --------------

function expand(item, open) {
  const group = item.closest("li").querySelector(":scope > ul[role=group]");
  if (!group || !item.hasAttribute("aria-expanded")) return false;
  item.setAttribute("aria-expanded", String(open));
  group.hidden = !open;
  if (open && group.hasAttribute("hx-get")) window.htmx?.trigger(group, "tree-expand");
  return true;
}

const visibleItems = (tree) => [...tree.querySelectorAll("[role=treeitem]")].filter((item) => item.offsetParent !== null);

function focusItem(tree, item) {
  for (const other of tree.querySelectorAll("[role=treeitem]")) other.tabIndex = -1;
  item.tabIndex = 0;
  item.focus();
}

document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-tree-toggle]");
  if (!toggle) return;
  const item = toggle.parentElement.querySelector("[role=treeitem]");
  expand(item, item.getAttribute("aria-expanded") !== "true");
});

document.addEventListener("keydown", (event) => {
  const item = event.target.closest("[role=treeitem]");
  if (!item) return;
  const tree = item.closest("[role=tree]");
  const items = visibleItems(tree);
  const at = items.indexOf(item);
  const moves = {
    ArrowDown: () => items[at + 1] && focusItem(tree, items[at + 1]),
    ArrowUp: () => items[at - 1] && focusItem(tree, items[at - 1]),
    Home: () => focusItem(tree, items[0]),
    End: () => focusItem(tree, items[items.length - 1]),
    ArrowRight: () => {
      if (item.getAttribute("aria-expanded") === "false") expand(item, true);
      else if (items[at + 1]) focusItem(tree, items[at + 1]);
    },
    ArrowLeft: () => {
      if (item.getAttribute("aria-expanded") === "true") { expand(item, false); return; }
      const parent = item.closest("ul[role=group]")?.closest("li")?.querySelector("[role=treeitem]");
      if (parent) focusItem(tree, parent);
    },
  };
  if (moves[event.key]) {
    event.preventDefault();
    moves[event.key]();
  }
});

// The tree's tab stop is the current folder; the sort form needs no button with scripts on.
const current = document.querySelector("[role=tree] [aria-current=page]");
if (current) {
  for (const other of document.querySelectorAll("[role=tree] [role=treeitem]")) other.tabIndex = -1;
  current.tabIndex = 0;
}
for (const button of document.querySelectorAll("[data-without-js]")) button.hidden = true;
render();
