// Storefront: a small single-page shop over the /api/v1 contract.
// No framework and no build step. The DOM is built with createElement and
// textContent only, so nothing from the API can ever be read as markup.

const API = "/api/v1";
const CART_KEY = "storefront.cartId";
const PAGE_SIZE = 12;
const main = document.getElementById("main");
const notice = document.getElementById("notice");

// ---------- small helpers ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const when = (rfc3339) => new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "short" }).format(new Date(rfc3339));
const money = (cents) => new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" }).format(cents / 100);
// getRandomValues, unlike randomUUID, also works on a plain-http origin such as a NodePort.
const randomHex = (bytes) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");

function show(...nodes) {
  main.replaceChildren(...nodes);
  main.focus({ preventScroll: true });
  // Each view is titled by its heading, so tabs, history and screen readers tell them apart.
  const heading = main.querySelector("h1")?.textContent;
  document.title = heading ? `${heading} · Storefront` : "Storefront";
}

function say(text, kind = "info") {
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = !text;
}

/** An API failure, carrying the problem document when there is one. */
class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(path, { method = "GET", body, headers = {} } = {}) {
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers: body === undefined ? headers : { "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { detail: "The shop cannot be reached. Check your connection and try again." });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const outage = response.status === 502 || response.status === 504 || (response.status === 503 && data?.type !== "/problems/time-limit");
    if (outage) {
      throw new ApiError(response.status, { ...(data || {}), detail: "The shop is temporarily unavailable. Please try again in a moment." });
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

function failure(error, retry) {
  // A listing the database stopped at its time limit: trying the same again does not
  // help (so no "Try again"), a narrower one does.
  const tooBroad = error.problem.type === "/problems/time-limit";
  return h("section", { class: "empty", "data-testid": "unavailable" },
    h("h1", {}, tooBroad ? "That search is too broad" : error.status === 0 || error.status >= 500 ? "Server unavailable" : "Something went wrong"),
    h("p", {}, tooBroad ? "The shop could not finish it in time. Add words to the search, or choose a category." : error.message),
    retry && !tooBroad ? h("button", { type: "button", onclick: retry }, "Try again") : null);
}

// ---------- the cart ----------

let cart = null;

// The cart's id is kept in localStorage so that the cart survives a reload. A browser
// that refuses storage (all cookies blocked) throws at every use: the shop still
// sells, and the cart then lasts as long as the page.
const savedCart = {
  id: null,
  get() { try { return localStorage.getItem(CART_KEY); } catch { return this.id; } },
  set(id) {
    this.id = id;
    try { id ? localStorage.setItem(CART_KEY, id) : localStorage.removeItem(CART_KEY); } catch { /* kept in memory */ }
  },
};

async function loadCart() {
  const id = savedCart.get();
  if (!id) { cart = null; return null; }
  try {
    cart = await api(`/carts/${encodeURIComponent(id)}`);
    if (cart.status !== "open") { savedCart.set(null); cart = null; }
  } catch (error) {
    if (error.status === 404) { savedCart.set(null); cart = null; } else throw error;
  }
  updateBadge();
  return cart;
}

async function ensureCart() {
  if (cart && cart.status === "open") return cart;
  cart = await api("/carts", { method: "POST" });
  savedCart.set(cart.id);
  return cart;
}

function updateBadge() {
  document.getElementById("cart-count").textContent = String(cart ? cart.itemCount : 0);
}

// One cart change at a time, each from the cart the one before left: two quick
// clicks on a first visit would otherwise make two carts and count one unit.
// `quantity` is the line's new quantity, or a function of its current one.
let cartChanges = Promise.resolve();

function setLine(productId, quantity) {
  const wanted = () => (typeof quantity === "function"
    ? quantity(cart?.items.find((item) => item.productId === productId)?.quantity ?? 0) : quantity);
  const change = cartChanges.then(async () => {
    await ensureCart();
    try {
      cart = await api(`/carts/${cart.id}/items/${productId}`, { method: "PUT", body: { quantity: wanted() } });
    } catch (error) {
      // The cart was checked out elsewhere, or deleted after a month without a change
      // (a 404 that is not the product's): start a new one and try again.
      const ordered = error.status === 409 && error.problem.type === "/problems/cart-ordered";
      if (!ordered && !(error.status === 404 && (await loadCart()) === null)) throw error;
      savedCart.set(null);
      cart = null;
      await ensureCart();
      cart = await api(`/carts/${cart.id}/items/${productId}`, { method: "PUT", body: { quantity: wanted() } });
    } finally {
      updateBadge();
    }
  });
  cartChanges = change.catch(() => {});
  return change;
}

// A stock refusal names each short line; `names` (product id → name) says which
// product that is, so a shopper with several lines knows which one to change.
function stockMessage(error, names) {
  const short = error.problem.items;
  if (error.status !== 409 || !short?.length) return error.message;
  return short.map((line) => {
    const what = names[line.productId] ? `“${names[line.productId]}”` : "that product";
    return line.available === 0 ? `Sorry, ${what} is out of stock.`
      : `Sorry, only ${line.available.toLocaleString("en-US")} of ${what} left in stock.`;
  }).join(" ");
}

async function addToCart(product, quantity = 1) {
  try {
    await setLine(product.id, (current) => current + quantity);
    say(`Added ${product.name} to your cart.`, "ok");
  } catch (error) {
    say(stockMessage(error, { [product.id]: product.name }), "error");
  }
}

// ---------- views ----------

// A missing or unreachable image shows the placeholder rather than a broken-image icon.
function productImage(product, attrs) {
  const placeholder = "/images/placeholder.svg";
  return h("img", { ...attrs, src: product.imageUrl || placeholder, alt: "", "data-testid": "product-image",
    onerror: (event) => { if (!event.target.src.endsWith(placeholder)) event.target.src = placeholder; } });
}

function productCard(product) {
  const out = product.stock === 0;
  return h("article", { class: "card", "data-testid": "product-card", "data-product-id": product.id },
    h("a", { href: `#/product/${product.id}`, class: "card-link" },
      productImage(product, { loading: "lazy", width: 320, height: 200 }),
      h("h2", {}, product.name)),
    h("p", { class: "price" }, money(product.priceCents)),
    out ? h("p", { class: "stock out" }, "Out of stock")
      : product.stock <= 3 ? h("p", { class: "stock low" }, `Only ${product.stock} left`) : null,
    // Named for its product, the visible words first: a grid of a dozen "Add to cart"
    // tells a screen reader's user nothing.
    h("button", { type: "button", "data-testid": "add-to-cart", disabled: out, onclick: () => addToCart(product),
      "aria-label": `${out ? "Sold out" : "Add to cart"}: ${product.name}` },
      out ? "Sold out" : "Add to cart"));
}

async function catalogView(params) {
  const category = params.get("category") || "";
  const q = params.get("q") || "";
  const sort = params.get("sort") || "";
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  document.getElementById("search-q").value = q;
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String((page - 1) * PAGE_SIZE) });
  if (category) query.set("category", category);
  if (q) query.set("q", q);
  if (sort) query.set("sort", sort);
  const [categories, list] = await Promise.all([api("/categories"), api(`/products?${query}`)]);

  const link = (changes) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) value ? next.set(key, value) : next.delete(key);
    if (!("page" in changes)) next.delete("page");
    const text = next.toString();
    return `#/${text ? "?" + text : ""}`;
  };
  const pages = Math.max(1, Math.ceil(list.total / PAGE_SIZE));
  const heading = q ? `Results for “${q}”` : category ? (categories.items.find((c) => c.slug === category)?.name || category) : "All products";

  return h("div", { class: "catalog" },
    h("nav", { class: "categories", "aria-label": "Categories" },
      h("a", { href: link({ category: "" }), "aria-current": category ? false : "page" }, "All"),
      categories.items.filter((c) => c.productCount > 0 || c.slug === category).map((c) =>
        h("a", { href: link({ category: c.slug }), "aria-current": c.slug === category ? "page" : false, "data-testid": "category" },
          `${c.name} (${c.productCount})`))),
    h("section", { class: "results" },
      h("div", { class: "results-head" },
        h("h1", {}, heading),
        h("label", { class: "sort" }, "Sort ",
          h("select", { "data-testid": "sort", onchange: (e) => { location.hash = link({ sort: e.target.value }); } },
            [["", "Featured"], ["name", "Name"], ["price", "Price: low to high"], ["-price", "Price: high to low"], ["newest", "Newest"]]
              .map(([value, label]) => h("option", { value, selected: value === sort }, label))))),
      list.items.length
        ? h("div", { class: "grid", "data-testid": "product-grid" }, list.items.map(productCard))
        : h("p", { class: "empty", "data-testid": "no-results" }, "No products match. Try another search or category."),
      pages > 1 ? h("nav", { class: "pager", "aria-label": "Pages" },
        page > 1 ? h("a", { href: link({ page: String(page - 1) }), rel: "prev" }, "← Previous") : h("span"),
        h("span", {}, `Page ${page} of ${pages} · ${list.total} products`),
        page < pages ? h("a", { href: link({ page: String(page + 1) }), rel: "next", "data-testid": "next-page" }, "Next →") : h("span"))
        : null));
}

async function productView(id) {
  const product = await api(`/products/${encodeURIComponent(id)}`);
  const out = product.stock === 0;
  const quantity = h("input", { id: "qty", type: "number", min: 1, max: 100, value: 1, required: true, disabled: out });
  return h("article", { class: "product", "data-testid": "product" },
    productImage(product, { width: 480, height: 300 }),
    h("div", {},
      h("p", { class: "crumbs" }, h("a", { href: `#/?category=${encodeURIComponent(product.category)}` }, product.category)),
      h("h1", {}, product.name),
      h("p", { class: "price big" }, money(product.priceCents)),
      h("p", {}, product.description),
      h("p", { class: out ? "stock out" : "stock" }, out ? "Out of stock" : `${product.stock.toLocaleString("en-US")} in stock`),
      h("form", { class: "add", onsubmit: (e) => { e.preventDefault(); addToCart(product, parseInt(quantity.value, 10) || 1); } },
        h("label", { for: "qty" }, "Quantity"), quantity,
        h("button", { type: "submit", disabled: out, "data-testid": "add-to-cart" }, out ? "Sold out" : "Add to cart"))));
}

async function cartView() {
  await cartChanges;  // a change still on its way would be missing from the page
  await loadCart();
  if (!cart || cart.items.length === 0) {
    return h("section", { class: "empty", "data-testid": "cart-empty" }, h("h1", {}, "Your cart is empty"), h("a", { href: "#/" }, "Browse the shop"));
  }
  const rows = cart.items.map((item) =>
    h("tr", { "data-testid": "cart-line", "data-product-id": item.productId },
      h("th", { scope: "row" }, h("a", { href: `#/product/${item.productId}` }, item.name)),
      h("td", { class: "num" }, money(item.unitPriceCents)),
      h("td", {},
        h("label", { class: "visually-hidden", for: `q-${item.productId}` }, `Quantity of ${item.name}`),
        h("input", {
          id: `q-${item.productId}`, type: "number", min: 1, max: 100, value: item.quantity, "data-testid": "line-quantity",
          onchange: async (e) => {
            // 0 removes the line, as in the API. Anything else out of range is put back,
            // so the field never shows a quantity the cart does not hold. An emptied
            // field is someone about to type.
            const text = e.target.value.trim();
            if (!text) return;
            const quantity = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
            if (!(quantity <= 100)) {
              e.target.value = item.quantity;
              say("Quantities go from 1 to 100; 0 removes the line.", "error");
              return;
            }
            try { await setLine(item.productId, quantity); say(quantity ? "Cart updated." : `Removed ${item.name}.`, "ok"); }
            catch (error) { say(stockMessage(error, { [item.productId]: item.name }), "error"); }
            render();
          },
        })),
      h("td", { class: "num" }, money(item.lineTotalCents)),
      h("td", {}, h("button", {
        type: "button", class: "link", "data-testid": "remove-line", "aria-label": `Remove ${item.name}`,
        onclick: async () => {
          try { await setLine(item.productId, 0); say(`Removed ${item.name}.`, "ok"); } catch (error) { say(error.message, "error"); }
          render();
        },
      }, "Remove"))));
  return h("section", { class: "cart" },
    h("h1", {}, "Your cart"),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Product", "Price", "Quantity", "Total"].map((t) => h("th", { scope: "col" }, t)),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Remove")))),
      h("tbody", {}, rows)),
    h("p", { class: "total" }, "Subtotal: ", h("strong", { "data-testid": "cart-subtotal" }, money(cart.subtotalCents))),
    h("a", { class: "button", href: "#/checkout", "data-testid": "go-checkout" }, "Check out"));
}

// Field rules mirror the API's (docs/openapi.yaml), so most mistakes are caught before sending.
const FIELDS = [
  { name: "name", path: "customer.name", label: "Full name", max: 200, autocomplete: "name" },
  { name: "email", path: "customer.email", label: "Email", max: 254, type: "email", autocomplete: "email",
    check: (v) => (/^[^@\s<>,;]{1,64}@[^@\s<>,;.]+(\.[^@\s<>,;.]+)+$/.test(v) ? "" : "Enter an email address such as ada@example.com.") },
  { name: "line1", path: "shippingAddress.line1", label: "Address", max: 200, autocomplete: "address-line1" },
  { name: "line2", path: "shippingAddress.line2", label: "Address line 2 (optional)", max: 200, optional: true, autocomplete: "address-line2" },
  { name: "city", path: "shippingAddress.city", label: "City", max: 100, autocomplete: "address-level2" },
  { name: "postalCode", path: "shippingAddress.postalCode", label: "Postal code", max: 20, autocomplete: "postal-code" },
  { name: "country", path: "shippingAddress.country", label: "Country code (2 letters, e.g. US)", max: 2, autocomplete: "country",
    check: (v) => (/^[A-Z]{2}$/.test(v) ? "" : "Use the two-letter country code, such as US, GB or DE.") },
];

async function checkoutView() {
  await cartChanges;  // the total shown is the total ordered
  await loadCart();
  if (!cart || cart.items.length === 0) { location.hash = "#/cart"; return null; }
  const inputs = {};
  const errors = {};
  let attempt = null;  // { sent: the body as sent, key: its Idempotency-Key }
  const form = h("form", { class: "checkout", novalidate: true, "data-testid": "checkout-form" },
    FIELDS.map((f) => {
      inputs[f.name] = h("input", {
        id: `f-${f.name}`, name: f.name, type: f.type || "text", maxlength: f.max, required: !f.optional,
        autocomplete: f.autocomplete, "aria-describedby": `e-${f.name}`,
      });
      errors[f.name] = h("p", { id: `e-${f.name}`, class: "field-error", "data-testid": `error-${f.name}` });
      return h("div", { class: "field" }, h("label", { for: `f-${f.name}` }, f.label), inputs[f.name], errors[f.name]);
    }),
    h("p", { class: "total", "data-testid": "checkout-total" },
      `Total: ${money(cart.subtotalCents)} (${cart.itemCount} ${cart.itemCount === 1 ? "item" : "items"})`),
    h("button", { type: "submit", "data-testid": "place-order" }, "Place order"));

  const setError = (name, text) => {
    errors[name].textContent = text;
    inputs[name].setAttribute("aria-invalid", text ? "true" : "false");
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    inputs.country.value = inputs.country.value.trim().toUpperCase();
    let ok = true;
    for (const f of FIELDS) {
      const value = inputs[f.name].value.trim();
      const text = !value ? (f.optional ? "" : `${f.label.replace(/ \(.*/, "")} is required.`)
        : [...value].length > f.max ? `At most ${f.max} characters.` : f.check ? f.check(value) : "";
      setError(f.name, text);
      if (text && ok) { inputs[f.name].focus(); ok = false; }
    }
    if (!ok) return;
    const v = (name) => inputs[name].value.trim();
    const body = {
      cartId: cart.id,
      customer: { email: v("email"), name: v("name") },
      shippingAddress: { line1: v("line1"), line2: v("line2") || null, city: v("city"), postalCode: v("postalCode"), country: v("country") },
    };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    // A resubmit of the same order after an unknown outcome (network error, 5xx,
    // still in progress) reuses its Idempotency-Key, so it cannot order twice; a
    // definite refusal or a changed form makes the next submit a new request.
    const sent = JSON.stringify(body);
    if (attempt?.sent !== sent) attempt = { sent, key: `checkout-${cart.id}-${randomHex(8)}` };
    try {
      const order = await api("/orders", { method: "POST", body, headers: { "Idempotency-Key": attempt.key } });
      savedCart.set(null);
      cart = null;
      updateBadge();
      say("");
      location.hash = `#/order/${order.id}?placed=1`;
    } catch (error) {
      button.disabled = false;
      if (error.status >= 400 && error.status < 500 && error.problem.type !== "/problems/request-in-progress") attempt = null;
      const byPath = Object.fromEntries(FIELDS.map((f) => [f.path, f.name]));
      let placed = false;
      for (const e of error.problem.errors || []) {
        if (byPath[e.field]) { setError(byPath[e.field], `${e.message[0].toUpperCase()}${e.message.slice(1)}.`); placed = true; }
      }
      say(placed ? "Please correct the highlighted fields."
        : stockMessage(error, Object.fromEntries(cart.items.map((i) => [i.productId, i.name]))), "error");
    }
  });
  return h("section", {}, h("h1", {}, "Check out"), form);
}

async function orderView(id, params) {
  const order = await api(`/orders/${encodeURIComponent(id)}`);
  const cancellable = order.status === "pending" || order.status === "paid";
  const address = order.shippingAddress;
  return h("section", { class: "order", "data-testid": "order" },
    params.get("placed") ? h("p", { class: "notice ok", "data-testid": "order-confirmation" }, "Thank you! Your order has been placed.") : null,
    h("h1", {}, "Order ", h("code", { "data-testid": "order-id" }, order.id)),
    h("p", {}, "Status: ", h("strong", { "data-testid": "order-status" }, order.status),
      " · placed ", h("time", { datetime: order.createdAt, "data-testid": "order-placed" }, when(order.createdAt))),
    h("p", { class: "hint" }, "Keep this order id: it is how you look the order up again."),
    h("ul", { class: "lines" }, order.items.map((i) => h("li", {}, `${i.quantity} × ${i.name} — ${money(i.lineTotalCents)}`))),
    h("p", { class: "total" }, "Total: ", h("strong", {}, money(order.totalCents))),
    h("p", {}, `Ships to ${order.customer.name}, ${address.line1}${address.line2 ? ", " + address.line2 : ""}, ${address.city} ${address.postalCode}, ${address.country}`),
    cancellable ? h("button", {
      type: "button", class: "danger", "data-testid": "cancel-order",
      onclick: async (e) => {
        if (!confirm("Cancel this order?")) return;
        e.target.disabled = true;
        const here = location.hash;
        try { await api(`/orders/${order.id}/cancel`, { method: "POST" }); say("Your order has been cancelled.", "ok"); }
        catch (error) { say(error.message, "error"); }
        if (location.hash !== here) return;  // the shopper has moved on
        // Without "placed": the thanks are no longer news (and no hashchange clears the notice).
        history.replaceState(null, "", `#/order/${encodeURIComponent(id)}`);
        render();
      },
    }, "Cancel order") : null);
}

function lookupView() {
  const input = h("input", { id: "order-id", name: "orderId", required: true, maxlength: 64, autocomplete: "off", "data-testid": "lookup-id" });
  return h("section", {},
    h("h1", {}, "Find an order"),
    h("form", { class: "lookup", onsubmit: (e) => { e.preventDefault(); if (input.value.trim()) location.hash = `#/order/${encodeURIComponent(input.value.trim())}`; } },
      h("label", { for: "order-id" }, "Order id"), input, h("button", { type: "submit" }, "Look up")));
}

// ---------- routing ----------

const pageNotFound = () => h("section", { class: "empty", "data-testid": "page-not-found" },
  h("h1", {}, "Page not found"), h("a", { href: "#/" }, "Back to the shop"));

// nginx answers a path that is not the shop's with this page and a 404: say so
// once, at the shop's own address, so that its links work from there.
let strayPath = location.pathname !== "/" && location.pathname !== "/index.html";
if (strayPath) history.replaceState(null, "", "/");

// A view may still be loading when the next one starts (a click before the catalog
// came): only the latest render may fill the page, or a slow one would show a page
// that is not the address's.
let renders = 0;

async function render() {
  const mine = ++renders;
  // A page slower than a blink says it is coming; a quick one does not flicker.
  const busy = setTimeout(() => { if (mine === renders) main.setAttribute("aria-busy", "true"); }, 300);
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = (path || "/").split("/").filter(Boolean);
  const stray = strayPath;
  strayPath = false;
  // The search box shows the search of the listing on screen, and no other page's.
  if (parts.length !== 0 || stray) document.getElementById("search-q").value = "";
  try {
    let view;
    if (stray) view = pageNotFound();
    else if (parts.length === 0) view = await catalogView(params);
    else if (parts[0] === "product" && parts[1]) view = await productView(parts[1]);
    else if (parts[0] === "cart") view = await cartView();
    else if (parts[0] === "checkout") view = await checkoutView();
    else if (parts[0] === "order" && parts[1]) view = await orderView(decodeURIComponent(parts[1]), params);
    else if (parts[0] === "orders") view = lookupView();
    else view = pageNotFound();
    if (view && mine === renders) show(view);
  } catch (error) {
    if (mine === renders) render.fail(error);
  } finally {
    clearTimeout(busy);
    if (mine === renders) main.removeAttribute("aria-busy");
  }
}

render.fail = (error) => {
  if (error.status === 404) {
    show(h("section", { class: "empty", "data-testid": "not-found" }, h("h1", {}, "Not found"), h("p", {}, error.message), h("a", { href: "#/" }, "Back to the shop")));
  } else {
    show(failure(error, render));
  }
};

document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = event.target.elements.q.value.trim();
  location.hash = q ? `#/?q=${encodeURIComponent(q)}` : "#/";
});

// The skip link moves the focus only: following its "#main" would be a route, and
// that route is no page of the shop.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener("hashchange", () => { say(""); render(); });
loadCart().catch(() => {}).finally(render);
