// The cluster page: every service's health and Raft state, the cache and the recent stock
// changes, from /cluster/status, refreshed every second.
"use strict";

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  return td;
}

function badge(text, kind) {
  const span = document.createElement("span");
  span.className = "badge " + kind;
  span.textContent = text;
  return span;
}

function definitions(dl, pairs) {
  dl.replaceChildren();
  for (const [term, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value === null || value === undefined ? "–" : String(value);
    dl.append(dt, dd);
  }
}

// One table row per replica of a Raft group (order replicas, catalog replicas): `name` is
// the row's first cell, `key` its data attribute.
function replicaRows(tbody, replicas, name, key) {
  tbody.replaceChildren();
  for (const replica of replicas) {
    const r = Object.assign({}, replica.status || {}, replica);
    const tr = document.createElement("tr");
    tr.dataset[key] = String(r.id);
    tr.dataset.role = r.up ? r.role : "down";
    const health = document.createElement("td");
    health.append(r.up ? (r.isolated ? badge("isolated", "warn") : badge("up", "up")) : badge("down", "down"));
    const role = document.createElement("td");
    if (r.up) role.append(badge(r.role, r.role === "leader" ? "leader" : ""));
    else role.textContent = "–";
    tr.append(
      cell(name + "-" + r.id),
      cell(r.url),
      health,
      role,
      cell(r.up ? r.term : null, "num"),
      cell(r.up ? r.last_log_index : null, "num"),
      cell(r.up ? r.applied : null, "num"),
      // Lag: the leader's last log index minus this replica's, from the same round of
      // health answers ("–" while either is unknown).
      cell(r.lag, "num"),
      cell(r.up ? r.last_seq : null, "num"),
    );
    tbody.append(tr);
  }
}

function render(view) {
  replicaRows(document.querySelector("#replicas tbody"), view.replicas, "order", "replica");
  replicaRows(document.querySelector("#catalogs tbody"), view.catalogs || [], "catalog", "catalog");
  const fe = view.frontend;
  const c = fe.cache;
  definitions(document.getElementById("frontend"), [
    // This page's answer came from the front-end: it is up, at the page's address.
    ["address", window.location.origin],
    ["health", "up"],
    ["sends orders to", fe.leader ? "order-" + fe.leader : "no leader known"],
    ["cache", c ? (c.active ? "serving" : "suspended") : "off"],
    ["cache entries", c ? c.entries + " / " + c.capacity : null],
    ["hit rate", c && c.hit_rate !== null ? (100 * c.hit_rate).toFixed(1) + " %" : null],
    ["hits / misses", c ? c.hits + " / " + c.misses : null],
    ["evictions", c ? c.evictions : null],
    ["invalidations", c ? c.invalidations : null],
    ["browsers following", fe.listeners],
  ]);
  document.getElementById("frontend").dataset.leader = fe.leader ? String(fe.leader) : "";
  definitions(document.getElementById("catalog"), [
    ["leader", view.catalog.url],
    ["health", view.catalog.up ? "up" : "down"],
    ["last event", view.catalog.last_seq],
  ]);
  const recent = document.getElementById("recent");
  recent.replaceChildren();
  for (const change of view.recent) {
    const li = document.createElement("li");
    li.textContent = "#" + change.seq + " " + change.name + " " + change.kind;
    recent.append(li);
  }
  if (view.recent.length === 0) {
    const li = document.createElement("li");
    li.textContent = "none since the front-end started";
    recent.append(li);
  }
}

async function tick() {
  const updated = document.getElementById("updated");
  try {
    const resp = await fetch("/cluster/status");
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error ? body.error.message : resp.statusText);
    render(body.data);
    updated.textContent = "updated " + new Date().toLocaleTimeString();
    updated.classList.remove("off");
  } catch (e) {
    updated.textContent = "front-end unreachable";
    updated.classList.add("off");
  }
}

tick();
setInterval(tick, 1000);
