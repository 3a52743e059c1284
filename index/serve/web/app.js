// semsearch web page: plain DOM, no framework, no build step. Every text goes in through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
let openId = null;

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const CONTEXT = 160; // characters shown either side of the marked sentence; the whole passage opens on click

// cut at a word boundary at most `limit` characters from one end, with an ellipsis where text was left out
function clip(text, limit, fromEnd) {
  if (text.length <= limit) return text;
  const part = fromEnd ? text.slice(text.length - limit) : text.slice(0, limit);
  const cut = fromEnd ? part.slice(part.indexOf(" ") + 1) : part.slice(0, part.lastIndexOf(" "));
  return fromEnd ? `… ${cut}` : `${cut} …`;
}

// a snippet of the passage: its best sentence ([start, end), marked) with some context around it
function snippet(text, span) {
  const p = el("p", "text");
  if (!span) { p.textContent = clip(text, 2 * CONTEXT, false); return p; }
  const [start, end] = span;
  p.append(clip(text.slice(0, start), CONTEXT, true), el("mark", "", text.slice(start, end)),
           clip(text.slice(end), CONTEXT, false));
  return p;
}

function hitButton(hit) {
  const button = el("button", "hit");
  button.type = "button";
  button.dataset.id = hit.id;
  const head = el("div", "hit-head");
  head.append(el("span", "rank", `${hit.rank}.`), el("span", "title", hit.title), el("span", "score", hit.score.toFixed(3)));
  button.append(head, el("div", "source", hit.id), snippet(hit.text, hit.highlight));
  button.addEventListener("click", () => openPassage(hit.id));
  return button;
}

function showHits(list, hits) {
  list.replaceChildren(...hits.map((hit) => { const li = el("li"); li.append(hitButton(hit)); return li; }));
}

async function search(event) {
  if (event) event.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  const mode = document.querySelector("input[name=mode]:checked").value;
  const params = new URLSearchParams({ q, mode, k: "10", highlight: "words" });
  history.replaceState(null, "", `?${new URLSearchParams({ q, mode })}`);
  $("status").textContent = "Searching…";
  $("status").classList.remove("error");
  try {
    const started = performance.now();
    const result = await getJSON(`/api/ask?${params}`);
    showHits($("hits"), result.hits);
    const ms = Math.round(performance.now() - started);
    const notes = (result.notices || []).join(" ");
    $("status").textContent = `${result.hits.length} passages (${result.mode}, ${ms} ms). ${notes}`;
  } catch (error) {
    $("hits").replaceChildren();
    $("status").textContent = error.message;
    $("status").classList.add("error");
  }
}

async function openPassage(id) {
  openId = id;
  document.querySelectorAll(".hit.selected").forEach((b) => b.classList.remove("selected"));
  document.querySelectorAll(`.hit[data-id="${CSS.escape(id)}"]`).forEach((b) => b.classList.add("selected"));
  try {
    const passage = await getJSON(`/api/passages/${encodeURIComponent(id)}`);
    $("passage-title").textContent = passage.title;
    $("passage-source").textContent = passage.source;
    $("passage-id").textContent = `passage ${passage.ordinal + 1}`;
    $("passage-id").title = passage.id;
    $("passage-text").textContent = passage.text;
    $("prev").disabled = !passage.previous;
    $("next").disabled = !passage.next;
    $("prev").onclick = () => passage.previous && openPassage(passage.previous);
    $("next").onclick = () => passage.next && openPassage(passage.next);
    $("passage").hidden = false;
    document.querySelector("main").classList.add("open");
    await loadRelated();
  } catch (error) {
    $("status").textContent = error.message;
    $("status").classList.add("error");
  }
}

async function loadRelated() {
  if (!openId) return;
  const params = new URLSearchParams({ id: openId, k: "5", other_articles: String($("other-articles").checked) });
  try {
    const result = await getJSON(`/api/related?${params}`);
    showHits($("related"), result.hits);
  } catch (error) {
    $("related").replaceChildren(el("li", "error", error.message));
  }
}

function closePassage() {
  openId = null;
  $("passage").hidden = true;
  document.querySelector("main").classList.remove("open");
}

// arrow keys move between hits (results, then related); "/" focuses the box; Esc closes the passage
function onKey(event) {
  const typing = event.target instanceof HTMLInputElement && event.target.type === "search";
  if (event.key === "/" && !typing) { event.preventDefault(); $("q").focus(); $("q").select(); return; }
  if (event.key === "Escape") { if (!$("passage").hidden) closePassage(); else $("q").focus(); return; }
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const hits = [...document.querySelectorAll(".hit")].filter((b) => b.offsetParent !== null);
  if (!hits.length) return;
  event.preventDefault();
  const at = hits.indexOf(document.activeElement);
  const next = event.key === "ArrowDown" ? Math.min(at + 1, hits.length - 1) : Math.max(at - 1, 0);
  hits[at === -1 ? 0 : next].focus();
}

async function showInfo() {
  try {
    const info = await getJSON("/api/info");
    $("index-info").textContent = `${info.passages} passages from ${info.documents} documents · ${info.model}`;
  } catch (error) {
    $("index-info").textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("submit", search);
  $("close").addEventListener("click", closePassage);
  $("other-articles").addEventListener("change", loadRelated);
  document.addEventListener("keydown", onKey);
  showInfo();
  const params = new URLSearchParams(location.search);
  if (params.get("q")) {
    $("q").value = params.get("q");
    const mode = document.querySelector(`input[name=mode][value="${CSS.escape(params.get("mode") || "auto")}"]`);
    if (mode) mode.checked = true;
    search();
  }
});
