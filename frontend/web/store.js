// The storefront: lists every toy with its live stock, buys, and looks up orders, through
// the public API only. Stock changes arrive on /events (Server-Sent Events); each names a
// toy, whose row is then re-read.
"use strict";

const rows = new Map(); // toy name -> its table row's parts

// A person's wording for the store's error answers.
function explain(status, message) {
  if (status === 409) return "Sorry, there is not enough of this toy in stock.";
  if (status === 404 && message === "order not found") return "There is no order with that number.";
  if (status === 404) return "This toy is not in the catalog.";
  if (status === 400 && message === "invalid order number") return "An order number is a whole number, like 42.";
  if (status === 400) return "That request was not accepted: " + message + ".";
  if (status === 503) return "The store cannot take that right now. Please try again in a moment.";
  if (status === 0) return "The store did not answer. Check your connection and try again.";
  return "Something went wrong (" + status + "): " + message + ".";
}

// GET or POST a JSON API route; resolves to {status, data} or {status, message}.
async function call(path, options) {
  try {
    const resp = await fetch(path, options);
    const body = await resp.json();
    if (resp.ok) return { status: resp.status, data: body.data };
    return { status: resp.status, message: (body.error && body.error.message) || resp.statusText };
  } catch (e) {
    return { status: 0, message: String(e) };
  }
}

function money(price) {
  return price.toLocaleString(undefined, { style: "currency", currency: "USD" });
}

function showStock(row, quantity, flash) {
  row.stock.textContent = quantity > 0 ? String(quantity) : "sold out";
  row.stock.classList.toggle("soldout", quantity === 0);
  row.stock.dataset.quantity = String(quantity);
  if (flash) {
    row.stock.classList.remove("flash");
    void row.stock.offsetWidth; // restart the animation
    row.stock.classList.add("flash");
  }
}

function say(element, text, ok) {
  element.textContent = text;
  element.className = element.className.replace(/\b(ok|error)\b/g, "").trim() + (ok ? " ok" : " error");
}

function addRow(tbody, toy) {
  const tr = document.createElement("tr");
  tr.dataset.toy = toy.name;
  const name = document.createElement("td");
  name.textContent = toy.name;
  const price = document.createElement("td");
  price.className = "num";
  price.textContent = money(toy.price);
  const stock = document.createElement("td");
  stock.className = "num stock";
  const buyCell = document.createElement("td");
  const form = document.createElement("form");
  form.className = "buy";
  const qty = document.createElement("input");
  qty.type = "number";
  qty.min = "1";
  qty.value = "1";
  qty.className = "qty";
  qty.setAttribute("aria-label", "Quantity of " + toy.name);
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = "Buy";
  const message = document.createElement("span");
  message.className = "row-message";
  message.setAttribute("role", "status");
  form.append(qty, button, message);
  buyCell.append(form);
  tr.append(name, price, stock, buyCell);
  tbody.append(tr);
  const row = { tr, stock, qty, button, message };
  rows.set(toy.name, row);
  showStock(row, toy.quantity, false);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    buy(toy.name, row);
  });
}

async function buy(name, row) {
  const quantity = Number(row.qty.value);
  if (!Number.isInteger(quantity) || quantity < 1) {
    say(row.message, "Choose a quantity of at least 1.", false);
    return;
  }
  row.button.disabled = true;
  say(row.message, "Buying…", true);
  // One key per purchase: a retry after no answer can never buy twice.
  const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
  const request = {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ name, quantity }),
  };
  let result = await call("/orders", request);
  if (result.status === 0 || result.status === 503) {
    result = await call("/orders", request); // same key: at most one order
  }
  row.button.disabled = false;
  if (result.data) {
    say(row.message, "Order #" + result.data.order_number + " placed.", true);
  } else {
    say(row.message, explain(result.status, result.message), false);
  }
  refresh(name);
}

async function refresh(name) {
  const row = rows.get(name);
  if (!row) return loadAll();
  const result = await call("/products/" + encodeURIComponent(name));
  if (result.data) {
    const changed = row.stock.dataset.quantity !== String(result.data.quantity);
    showStock(row, result.data.quantity, changed);
  }
}

async function loadAll() {
  const message = document.getElementById("shop-message");
  const result = await call("/products");
  if (!result.data) {
    say(message, explain(result.status, result.message), false);
    return;
  }
  message.textContent = "";
  const tbody = document.querySelector("#toys tbody");
  for (const toy of result.data) {
    const row = rows.get(toy.name);
    if (row) {
      const changed = row.stock.dataset.quantity !== String(toy.quantity);
      showStock(row, toy.quantity, changed);
    } else {
      addRow(tbody, toy);
    }
  }
}

function follow() {
  const live = document.getElementById("live");
  const events = new EventSource("/events");
  events.addEventListener("open", () => {
    live.textContent = "live";
    live.classList.remove("off");
  });
  events.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.classList.add("off");
  });
  events.addEventListener("stock", (e) => {
    try {
      refresh(JSON.parse(e.data).name);
    } catch (_) {
      loadAll();
    }
  });
  events.addEventListener("resync", () => loadAll());
}

document.getElementById("lookup").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = document.getElementById("order-result");
  const raw = document.getElementById("order-number").value.trim();
  if (!/^\d+$/.test(raw)) {
    say(out, explain(400, "invalid order number"), false);
    return;
  }
  const result = await call("/orders/" + raw);
  if (result.data) {
    const o = result.data;
    say(out, "Order #" + o.number + ": " + o.quantity + " × " + o.name + ".", true);
  } else {
    say(out, explain(result.status, result.message), false);
  }
});

follow();
loadAll();
