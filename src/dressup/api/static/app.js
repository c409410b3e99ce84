// DressUp's web page: plain JavaScript over the REST API, no build step.
"use strict";

const state = {offset: 0, pageSize: 24, cart: JSON.parse(localStorage.getItem("dressup.cart") || "[]"),
               liked: new Set(), turn: 0, photo: null,  // turn: the latest catalog request; an older answer is dropped
               applied: new URLSearchParams(), facets: null, outfitsShown: false, product: null, loadingMore: false};
const $ = (selector) => document.querySelector(selector);

async function api(path, options = {}) {
  const token = localStorage.getItem("dressup.token");
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, Object.assign({}, options, {headers}));
  if (response.status === 401 && token) {  // the account was deleted elsewhere: start afresh
    localStorage.removeItem("dressup.token");
    state.liked = new Set();
    showLiked();
    renderAccount();
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({detail: response.statusText}));
    throw new Error(typeof problem.detail === "string" ? problem.detail : JSON.stringify(problem.detail));
  }
  return response.status === 204 ? null : response.json();
}

let sayTimer;
function say(text, seconds = 6) {  // a notice fades after a few seconds, or at a click, so it never hides buttons for long
  $("#message").textContent = text || "";
  clearTimeout(sayTimer);
  if (text) sayTimer = setTimeout(() => { $("#message").textContent = ""; }, seconds * 1000);
}

// a grid waiting for its answer says so (aria-busy, and a visible "Loading")
async function loading(element, work) {
  element.setAttribute("aria-busy", "true");
  try { return await work(); } finally { element.removeAttribute("aria-busy"); }
}

// -- filters: what was applied, not what the form shows before "Apply" -----------------------------
function filterParams() {
  return new URLSearchParams(state.applied);
}

function formParams() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("#filters"))) {
    if (value !== "") params.append(name, value);
  }
  return params;
}

function filterObject() {
  const filters = {};
  for (const [name, value] of filterParams()) filters[name] = name === "max_price" ? Number(value) : value;
  return filters;
}

function applyFilters() {
  state.applied = formParams();
  $("#unapplied").hidden = true;
}

// -- cards --------------------------------------------------------------------------------------
function explain(item) {  // why an item is there, in the shopper's words
  return item.reason || "";
}

function subtitle(item, name) {  // what the title does not say already ("Black Dress" is not followed by "Black Dress")
  const lower = name.toLowerCase();
  const said = (text) => !text || lower.includes(String(text).toLowerCase());
  if (said(item.colour) && said(item.category)) return [item.gender, item.category].filter(Boolean).join(" \u00b7 ");
  return [item.colour, item.category].filter(Boolean).join(" ");
}

function card(item, note = "") {
  const element = document.createElement("article");
  element.className = "card";
  element.dataset.id = item.id;
  const price = item.price == null ? "" : `${item.price.toFixed(2)}`;
  const name = item.title || item.id;
  element.innerHTML = `
    <a class="open" href="#item/${encodeURIComponent(item.id)}">
      <img src="${item.image_url}" loading="lazy" width="160" height="200">
      <h3></h3>
    </a>
    <p class="meta"><span class="category"></span> <span class="price"></span></p>
    <p class="note"></p>
    <div class="actions">
      <button class="like">&#9829;</button>
      <button class="similar">Similar</button>
      <button class="add">Add to cart</button>
    </div>`;
  element.querySelector("img").alt = name;  // catalog text is never parsed as HTML
  element.querySelector("h3").textContent = name;
  element.querySelector(".price").textContent = price;
  element.querySelector(".note").textContent = note;
  element.querySelector(".category").textContent = subtitle(item, name);
  if (item.rule && item.rule.action !== "bury") {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "Promoted";
    badge.title = item.rule.label;
    element.querySelector(".open").append(badge);
  }
  const heart = element.querySelector(".like");
  heart.classList.toggle("liked", state.liked.has(item.id));
  heart.setAttribute("aria-pressed", String(state.liked.has(item.id)));
  heart.setAttribute("aria-label", `Like ${name}`);
  heart.title = "Like";
  heart.onclick = () => like(item.id);
  element.querySelector(".similar").setAttribute("aria-label", `Similar to ${name}`);
  element.querySelector(".similar").onclick = () => { signal(item.id, "view"); showSimilar(item); };
  element.querySelector(".add").setAttribute("aria-label", `Add ${name} to the cart`);
  element.querySelector(".add").onclick = () => addToCart(item.id);
  return element;
}

function fill(grid, items, note = explain) {
  grid.replaceChildren(...items.map((item) => card(item, note ? note(item) : "")));
}

// -- views --------------------------------------------------------------------------------------
function show(view) {
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === view));
  document.querySelectorAll("nav button").forEach((b) => {
    b.classList.toggle("active", b.dataset.view === view);
    if (b.dataset.view === view) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  });
  if (view !== "product" && location.hash.startsWith("#item/")) history.pushState(null, "", location.pathname);
  if (view === "feed") loadFeed();
  if (view === "cart") renderCart();
}

async function loadCatalog(append = false) {
  const turn = ++state.turn;
  const offset = append ? state.offset + state.pageSize : 0;
  const params = filterParams();
  params.set("limit", state.pageSize);
  params.set("offset", offset);
  const grid = $("#catalog-grid");
  state.loadingMore = true;  // no page is added by scrolling while any catalog page is on its way
  try {
    const page = await loading(grid, () => api(`/items?${params}`));
    if (turn !== state.turn) return;
    state.offset = offset;
    if (append) grid.append(...page.items.map((item) => card(item)));
    else fill(grid, page.items, null);
    $("#catalog-summary").textContent = `${page.total} items`;
    $("#more").hidden = state.offset + page.items.length >= page.total;
    say("");
  } catch (error) { say(error.message); } finally { if (turn === state.turn) state.loadingMore = false; }
}

// -- text search: results as the shopper types -------------------------------------------------------
function debounced(action, wait) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => action(...args), wait); };
}

function describe(found) {
  const filters = Object.entries(found.understood || {}).map(([name, value]) => `${name.replace("_", " ")} ${value}`);
  const first = Object.values(found.preferred || {});
  return [filters.length ? `as filters: ${filters.join(", ")}` : "", first.length ? `${first.join(" ")} first` : ""]
    .filter(Boolean).join("; ");
}

async function searchText(reveal = true) {
  const text = $("#search input").value.trim();
  if (!text) return loadCatalog();
  const turn = ++state.turn;
  if (reveal && !$("#catalog").classList.contains("active")) show("catalog");
  const params = filterParams();
  params.set("q", text);
  params.set("k", 48);
  try {
    const found = await loading($("#catalog-grid"), () => api(`/search?${params}`));
    if (turn !== state.turn) return;  // the shopper typed on meanwhile
    fill($("#catalog-grid"), found.items);
    state.loadingMore = false;
    const how = describe(found);
    $("#catalog-summary").textContent = found.items.length
      ? `${found.items.length} results for “${text}”${how ? ` (${how})` : ""}` : `Nothing matches “${text}”`;
    $("#more").hidden = true;
    say("");
  } catch (error) { if (turn === state.turn) say(error.message); }
}

async function refinePhoto() {
  const text = $("#refine input").value.trim();
  if (!state.photo || !text) return;
  const form = uploadForm(state.photo, 12);
  form.append("q", text);
  const photo = state.photo;
  try {
    const found = await loading($("#similar-grid"), () => api("/search", {method: "POST", body: form}));
    if (photo !== state.photo) return;  // another photo or product was shown meanwhile
    const how = describe(found);
    $("#similar-title").textContent = `Like this photo: “${text}”${how ? ` (${how})` : ""}`;
    fill($("#similar-grid"), found.items);
    say(found.items.length ? "" : "Nothing like this photo matches these words.");
  } catch (error) { say(error.message); }
}

async function showSimilar(item) {
  show("photo");
  state.photo = null;
  $("#refine").hidden = true;
  $("#tags").replaceChildren();
  $("#garments").replaceChildren();
  $("#query").replaceChildren(card(item));
  $("#similar-title").textContent = `Similar to ${item.title || item.id}`;
  try {
    const result = await loading($("#similar-grid"),
                                 () => api(`/items/${encodeURIComponent(item.id)}/similar?k=12&${filterParams()}`));
    fill($("#similar-grid"), result.items);
  } catch (error) { say(error.message); }
}

function uploadForm(file, k) {
  const form = new FormData();
  form.append("image", file);
  if (k) form.append("k", String(k));
  for (const [name, value] of k ? filterParams() : []) form.append(name, value);
  return form;
}

const TAG_NAMES = {articleType: "Type", baseColour: "Colour", gender: "For", usage: "Usage", season: "Season"};

async function searchPhoto(file) {
  const image = document.createElement("img");
  image.src = URL.createObjectURL(file);
  image.className = "query-photo";
  image.alt = "your photo";
  $("#query").replaceChildren(image);
  state.photo = null;
  $("#refine").hidden = true;
  $("#garments").replaceChildren();
  $("#similar-grid").replaceChildren();
  $("#tags").replaceChildren();
  if ($("#upload input[name=look]").checked) return shopTheLook(file, image);
  $("#similar-title").textContent = "Similar products";
  const upload = () => uploadForm(file);
  const search = uploadForm(file, 12);
  try {
    const [similar, tags] = await loading($("#similar-grid"), () => Promise.all([
      api("/similar", {method: "POST", body: search}),
      api("/tags", {method: "POST", body: upload()}).catch(() => ({tags: {}})),
    ]));
    fill($("#similar-grid"), similar.items);
    state.photo = file;
    $("#refine").hidden = false;
    $("#tags").replaceChildren(...Object.entries(tags.tags).flatMap(([label, tag]) => {
      const term = document.createElement("dt");
      term.textContent = TAG_NAMES[label] || label;
      term.title = label;
      const value = document.createElement("dd");
      value.textContent = `${tag.value} (${Math.round(tag.confidence * 100)}%)`;
      return [term, value];
    }));
    say("");
  } catch (error) {
    $("#query").replaceChildren();  // a refused photo leaves no broken preview behind
    say(error.message);
  }
}

// Shop the look: the photo with each garment framed, and each garment's similar products below it
async function shopTheLook(file, image) {
  $("#similar-title").textContent = "Garments in the photo";
  const frame = document.createElement("div");
  frame.className = "look";
  frame.append(image);
  $("#query").replaceChildren(frame);
  try {
    const [look] = await loading($("#garments"), () => Promise.all([
      api("/similar?look=true", {method: "POST", body: uploadForm(file, 6)}), image.decode().catch(() => null)]));
    const width = image.naturalWidth || 1, height = image.naturalHeight || 1;
    $("#similar-title").textContent = look.garments.length
      ? `${look.garments.length} garment${look.garments.length > 1 ? "s" : ""} in the photo` : "No garment found in this photo";
    $("#garments").replaceChildren(...look.garments.map((garment, number) => {
      const [x0, y0, x1, y1] = garment.box;
      const mark = document.createElement("a");
      mark.className = "garment-box";
      mark.href = `#garment-${number}`;
      Object.assign(mark.style, {left: `${100 * x0 / width}%`, top: `${100 * y0 / height}%`,
                                 width: `${100 * (x1 - x0) / width}%`, height: `${100 * (y1 - y0) / height}%`});
      mark.textContent = `${number + 1} ${garment.type}`;
      frame.append(mark);
      const section = document.createElement("section");
      section.className = "garment";
      section.id = `garment-${number}`;
      const title = document.createElement("h3");
      title.textContent = `${number + 1}. ${garment.type} (${Math.round(garment.confidence * 100)}%)`;
      const grid = document.createElement("div");
      grid.className = "grid";
      fill(grid, garment.items, () => `looks like garment ${number + 1}`);
      section.append(title, grid);
      return section;
    }));
    say("");
  } catch (error) { say(error.message); }
}

// -- the product page: photo, details, similar items, complete the look ---------------------------
const DETAILS = [["category", "Category"], ["subcategory", "Type"], ["colour", "Colour"], ["gender", "For"],
                 ["brand", "Brand"]];

async function openProduct(itemId) {
  show("product");
  state.product = itemId;
  const view = $("#product");
  for (const id of ["#product-title", "#product-price"]) $(id).textContent = "";
  for (const id of ["#product-details", "#product-similar", "#product-outfits"]) $(id).replaceChildren();
  $("#product-photo").removeAttribute("src");
  $("#product-photo").alt = "";
  $("#product-like").onclick = $("#product-add").onclick = null;  // never the previous product's
  try {
    const item = await loading(view, () => api(`/items/${encodeURIComponent(itemId)}`));
    if (state.product !== itemId) return;
    signal(item.id, "view");
    const name = item.title || item.id;
    $("#product-photo").src = item.image_url;
    $("#product-photo").alt = name;
    $("#product-title").textContent = name;
    $("#product-price").textContent = item.price == null ? "" : item.price.toFixed(2);
    const rows = DETAILS.filter(([field]) => item[field]).map(([field, label]) => [label, item[field]]);
    if (item.sizes.length) {
      const out = new Set(item.sold_out_sizes);
      rows.push(["Sizes", item.sizes.map((s) => (out.has(s) ? `${s} (sold out)` : s)).join(", ")]);
    }
    rows.push(["Availability", item.in_stock ? "in stock" : "out of stock"]);
    const codes = /(^|_)(cod|code|id|no|num)(_|$)/i;  // internal codes mean nothing to a shopper
    const fields = new Set(["id", "title", "name", "category", "subcategory", "colour", "color", "gender", "price", "sizes",
                            "brand", "image", "in_stock", "sold_out_sizes"]);  // raw columns the item's fields came from
    const shown = Object.entries(item.attributes || {}).filter(([key, value]) => value !== null && !codes.test(key)
      && !fields.has(key.toLowerCase())
      && String(value).length < 80 && !rows.some(([, known]) => String(known).toLowerCase() === String(value).toLowerCase()));
    for (const [key, value] of shown.slice(0, 6)) rows.push([key.replace(/_/g, " "), String(value)]);
    $("#product-details").replaceChildren(...rows.flatMap(([label, value]) => {
      const term = document.createElement("dt");
      term.textContent = label;
      const text = document.createElement("dd");
      text.textContent = value;
      return [term, text];
    }));
    const heart = $("#product-like");
    heart.dataset.id = item.id;
    heart.classList.toggle("liked", state.liked.has(item.id));
    heart.setAttribute("aria-pressed", String(state.liked.has(item.id)));
    heart.onclick = () => like(item.id);
    $("#product-add").onclick = () => addToCart(item.id);
    $("#product-title").focus();
    await Promise.all([productSimilar(item), productLook(item)]);
  } catch (error) { say(error.message); }
}

async function productSimilar(item) {
  const grid = $("#product-similar");
  grid.replaceChildren();
  const result = await loading(grid, () => api(`/items/${encodeURIComponent(item.id)}/similar?k=8&${filterParams()}`));
  if (state.product === item.id) fill(grid, result.items);
}

async function productLook(item) {
  const box = $("#product-look");
  box.hidden = !(state.facets && state.facets.outfits);
  $("#product-outfits").replaceChildren();
  if (box.hidden) return;
  const request = {items: [item.id], n: 2};
  const result = await loading(box, () => api("/outfits", {method: "POST", json: request})).catch(() => ({outfits: []}));
  if (state.product !== item.id) return;
  $("#product-outfits").replaceChildren(...result.outfits.map((outfit, number) => outfitRow(outfit, number)));
  if (!result.outfits.length) box.hidden = true;
}

function route() {  // #item/ID opens a product page; the back button returns from it
  const match = location.hash.match(/^#item\/(.+)$/);
  if (match) openProduct(decodeURIComponent(match[1]));
  else if (location.hash === "#main") return;
  else if ($("#product").classList.contains("active")) show("catalog");
}

// -- account, likes and feed --------------------------------------------------------------------
async function ensureAccount() {
  if (!localStorage.getItem("dressup.token")) {
    const account = await api("/users", {method: "POST", json: {}});
    localStorage.setItem("dressup.token", account.token);
    localStorage.setItem("dressup.user", account.user_id);
    renderAccount();
  }
}

function renderAccount() {
  const user = localStorage.getItem("dressup.token") && localStorage.getItem("dressup.user");
  const box = $("#account");
  box.replaceChildren();
  if (!user) {
    box.textContent = "Like items to get a feed";
    return;
  }
  const name = document.createElement("span");
  name.textContent = user;
  const forget = document.createElement("button");
  forget.textContent = "Forget me";
  forget.onclick = async () => {
    await api("/users/me", {method: "DELETE"}).catch(() => null);
    localStorage.removeItem("dressup.token");
    state.liked = new Set();
    showLiked();
    renderAccount();
    say("Your account and its history are deleted.");
  };
  box.append(name, forget);
}

function showLiked() {  // every heart on the page, in every view
  document.querySelectorAll(".like[data-id], .card").forEach((element) => {
    const heart = element.classList.contains("like") ? element : element.querySelector(".like");
    const liked = state.liked.has(element.dataset.id);
    heart.classList.toggle("liked", liked);
    heart.setAttribute("aria-pressed", String(liked));
  });
}

async function like(itemId) {
  try {
    await ensureAccount();
    await api("/users/me/events", {method: "POST", json: {item_id: itemId, type: "like"}});
    state.liked.add(itemId);
    showLiked();
    say("Liked. Your feed is updated.");
    if ($("#feed").classList.contains("active")) loadFeed();
  } catch (error) { say(error.message); }
}

// a view or a cart add tells the feed something too; it never gets in the shopper's way
async function signal(itemId, type) {
  if (type === "view" && !localStorage.getItem("dressup.token")) return;  // a look alone opens no account
  try {
    await ensureAccount();
    await api("/users/me/events", {method: "POST", json: {item_id: itemId, type}});
  } catch (error) { /* the signal is lost, the page goes on */ }
}

async function loadLiked() {
  if (!localStorage.getItem("dressup.token")) return;
  try {
    state.liked = new Set((await api("/users/me")).liked);
    showLiked();
  } catch (error) { /* a deleted account: renderAccount starts afresh */ }
}

function reasonOf(item) {
  const colours = item.variants && item.variants.length
    ? ` \u00b7 ${item.variants.length} more colour${item.variants.length > 1 ? "s" : ""}` : "";
  if (item.because && item.reason !== "promoted") return `because you liked ${item.because.title || item.because.id}${colours}`;
  return (item.reason || "") + colours;
}

async function loadFeed() {
  const known = localStorage.getItem("dressup.token");
  try {  // a new visitor gets popular items at once, before any like
    const feed = await loading($("#feed-grid"), () => (known ? api(`/users/me/recommendations?k=12&${filterParams()}`)
      : api("/recommend", {method: "POST", json: Object.assign({liked: [], k: 12}, filterObject())})));
    fill($("#feed-grid"), feed.items, reasonOf);
    $("#feed-summary").textContent = known && state.liked.size ? "Picked for you from what you liked"
      : "Popular now: like a few items and this feed follows your taste";
  } catch (error) { say(error.message); }
}

// -- cart and outfits ---------------------------------------------------------------------------
function saveCart() {
  localStorage.setItem("dressup.cart", JSON.stringify(state.cart));
  $("#cart-count").textContent = state.cart.length;
}

function cartChanged() {  // outfits shown for the old cart are gone; shown again for the new one
  saveCart();
  $("#outfits").replaceChildren();
  if (state.outfitsShown && state.cart.length) completeOutfits();
  else state.outfitsShown = false;
}

function addToCart(itemId) {
  if (!state.cart.includes(itemId)) state.cart.push(itemId);
  cartChanged();
  signal(itemId, "cart");
  say("Added to the cart.");
}

async function renderCart() {
  const items = await loading($("#cart-grid"), () => Promise.all(
    state.cart.map((id) => api(`/items/${encodeURIComponent(id)}`).catch(() => null))));
  state.cart = items.filter(Boolean).map((item) => item.id);
  saveCart();
  fill($("#cart-grid"), items.filter(Boolean), null);
  $("#cart-summary").textContent = state.cart.length ? "" : "Your cart is empty.";
  $("#complete").hidden = !(state.facets && state.facets.outfits) || !state.cart.length;
  $("#cart-grid").querySelectorAll(".add").forEach((button) => {
    button.textContent = "Remove";
    button.setAttribute("aria-label", `Remove ${button.closest(".card").querySelector("h3").textContent} from the cart`);
    button.onclick = () => {
      state.cart = state.cart.filter((id) => id !== button.closest(".card").dataset.id);
      cartChanged();
      renderCart();
    };
  });
}

function outfitRow(outfit, number) {
  const row = document.createElement("div");
  row.className = "outfit";
  const title = document.createElement("h3");
  const total = outfit.total_price == null ? "" : `, ${outfit.total_price.toFixed(2)} in all`;
  const source = outfit.source === "stylist" ? "by our stylists" : "suggested";
  title.textContent = `Outfit ${number + 1}, ${source} (match ${outfit.score.toFixed(2)}${total})`;
  row.dataset.source = outfit.source;
  const grid = document.createElement("div");
  grid.className = "grid";
  fill(grid, outfit.items, (i) => (i.given ? i.reason : `${i.slot}${i.replaces ? " (stands in)" : ""}: ${i.reason}`));
  row.append(title, grid);
  return row;
}

async function completeOutfits() {
  if (!state.cart.length) return say("Put an item in the cart first.");
  const cart = state.cart.slice();
  state.outfitsShown = true;  // a cart change meanwhile asks again
  try {
    const request = {items: cart, n: 3};
    const {gender, max_price: budget} = filterObject();  // not the category: an outfit needs other categories
    if (gender) request.gender = gender;
    if (budget) request.budget = budget;
    const result = await loading($("#outfits"), () => api("/outfits", {method: "POST", json: request}));
    if (cart.join() !== state.cart.join()) return;  // the cart changed meanwhile: its own outfits are on their way
    $("#outfits").replaceChildren(...result.outfits.map((outfit, number) => outfitRow(outfit, number)));
    say(result.outfits.length ? "" : "No outfit fits these items and filters.");
  } catch (error) { say(error.message); }
}

// -- start --------------------------------------------------------------------------------------
async function loadFacets() {
  try {
    const facets = await api("/facets");
    state.facets = facets;
    for (const name of ["category", "gender", "colour"]) {
      const select = $(`#filters select[name=${name}]`);
      for (const value of facets.values[name] || []) select.add(new Option(value, value));
    }
    $("#budget").hidden = facets.max_price == null;  // a store without prices or sizes is not offered those filters
    $("#size").hidden = !facets.sizes.length;
    for (const size of facets.sizes) $("#filters select[name=size]").add(new Option(size, size));
    $("#complete").hidden = !facets.outfits || !state.cart.length;
  } catch (error) { say(error.message); }
}

document.querySelectorAll("nav button").forEach((button) => { button.onclick = () => show(button.dataset.view); });
$("#filters").onsubmit = (event) => {
  event.preventDefault();
  applyFilters();
  searchText(false);  // the catalog, or the search typed, under the new filters
  if ($("#feed").classList.contains("active")) loadFeed();
};
$("#filters").oninput = () => { $("#unapplied").hidden = formParams().toString() === state.applied.toString(); };
$("#more").onclick = () => loadCatalog(true);
new IntersectionObserver((entries) => {  // infinite scroll: the next page comes as the shopper reaches the end
  if (entries.some((e) => e.isIntersecting) && !$("#more").hidden && !state.loadingMore
      && $("#catalog").classList.contains("active") && !$("#search input").value.trim()) loadCatalog(true);
}, {rootMargin: "300px"}).observe($("#more"));
$("#message").onclick = () => say("");
$("#upload input").onchange = (event) => event.target.files[0] && searchPhoto(event.target.files[0]);
$("#complete").onclick = completeOutfits;
$("#search input").oninput = debounced(() => searchText(), 250);
$("#search").onsubmit = (event) => { event.preventDefault(); searchText(); };
$("#refine").onsubmit = (event) => { event.preventDefault(); refinePhoto(); };
window.addEventListener("hashchange", route);
saveCart();
renderAccount();
loadFacets().then(() => { if (location.hash.startsWith("#item/")) route(); });
loadCatalog().then(loadLiked);
