// DressUp's web page: plain JavaScript over the REST API, no build step.
"use strict";

const state = {offset: 0, pageSize: 24, cart: JSON.parse(localStorage.getItem("dressup.cart") || "[]"),
               liked: new Set(), turn: 0, photo: null};  // turn: the latest catalog request; an older answer is dropped
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

function filterParams() {
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

// -- cards --------------------------------------------------------------------------------------
function card(item, note = "") {
  const element = document.createElement("article");
  element.className = "card";
  element.dataset.id = item.id;
  const price = item.price == null ? "" : `${item.price.toFixed(2)}`;
  element.innerHTML = `
    <img src="${item.image_url}" alt="" loading="lazy" width="160" height="200">
    <h3></h3>
    <p class="meta"><span class="category"></span> <span class="price"></span></p>
    <p class="note"></p>
    <div class="actions">
      <button class="like" title="Like">&#9829;</button>
      <button class="similar">Similar</button>
      <button class="add">Add to cart</button>
    </div>`;
  element.querySelector("h3").textContent = item.title || item.id;
  element.querySelector(".price").textContent = price;
  element.querySelector(".note").textContent = note;  // catalog text is never parsed as HTML
  element.querySelector(".category").textContent = [item.colour, item.category].filter(Boolean).join(" ");
  const heart = element.querySelector(".like");
  heart.classList.toggle("liked", state.liked.has(item.id));
  heart.setAttribute("aria-pressed", String(state.liked.has(item.id)));
  heart.setAttribute("aria-label", `Like ${item.title || item.id}`);
  heart.onclick = () => like(item.id);
  element.querySelector(".similar").onclick = () => { signal(item.id, "view"); showSimilar(item); };
  element.querySelector(".add").onclick = () => addToCart(item.id);
  return element;
}

function fill(grid, items, note) {
  grid.replaceChildren(...items.map((item) => card(item, note ? note(item) : "")));
}

// -- views --------------------------------------------------------------------------------------
function show(view) {
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === view));
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  if (view === "feed") loadFeed();
  if (view === "cart") renderCart();
}

async function loadCatalog(append = false) {
  const turn = ++state.turn;
  state.offset = append ? state.offset + state.pageSize : 0;
  const params = filterParams();
  params.set("limit", state.pageSize);
  params.set("offset", state.offset);
  try {
    const page = await api(`/items?${params}`);
    if (turn !== state.turn) return;
    const grid = $("#catalog-grid");
    if (append) grid.append(...page.items.map((item) => card(item)));
    else fill(grid, page.items);
    $("#catalog-summary").textContent = `${page.total} items`;
    $("#more").hidden = state.offset + page.items.length >= page.total;
    say("");
  } catch (error) { say(error.message); }
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
    const found = await api(`/search?${params}`);
    if (turn !== state.turn) return;  // the shopper typed on meanwhile
    fill($("#catalog-grid"), found.items);
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
    const found = await api("/search", {method: "POST", body: form});
    if (photo !== state.photo) return;  // another photo or product was shown meanwhile
    const how = describe(found);
    $("#similar-title").textContent = `Like this photo: “${text}”${how ? ` (${how})` : ""}`;
    fill($("#similar-grid"), found.items, (i) => i.score.toFixed(2));
    say(found.items.length ? "" : "Nothing like this photo matches these words.");
  } catch (error) { say(error.message); }
}

async function showSimilar(item) {
  show("photo");
  state.photo = null;
  $("#refine").hidden = true;
  $("#tags").replaceChildren();
  $("#query").replaceChildren(card(item));
  $("#similar-title").textContent = `Similar to ${item.title || item.id}`;
  try {
    const result = await api(`/items/${encodeURIComponent(item.id)}/similar?k=12&${filterParams()}`);
    fill($("#similar-grid"), result.items, (i) => i.score.toFixed(2));
  } catch (error) { say(error.message); }
}

function uploadForm(file, k) {
  const form = new FormData();
  form.append("image", file);
  if (k) form.append("k", String(k));
  for (const [name, value] of k ? filterParams() : []) form.append(name, value);
  return form;
}

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
    const [similar, tags] = await Promise.all([
      api("/similar", {method: "POST", body: search}),
      api("/tags", {method: "POST", body: upload()}).catch(() => ({tags: {}})),
    ]);
    fill($("#similar-grid"), similar.items, (i) => i.score.toFixed(2));
    state.photo = file;
    $("#refine").hidden = false;
    $("#tags").replaceChildren(...Object.entries(tags.tags).flatMap(([label, tag]) => {
      const term = document.createElement("dt");
      term.textContent = label;
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
    const [look] = await Promise.all([api("/similar?look=true", {method: "POST", body: uploadForm(file, 6)}),
                                      image.decode().catch(() => null)]);
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
      fill(grid, garment.items, (i) => i.score.toFixed(2));
      section.append(title, grid);
      return section;
    }));
    say("");
  } catch (error) { say(error.message); }
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
  document.querySelectorAll(".card").forEach((element) => {
    const liked = state.liked.has(element.dataset.id);
    element.querySelector(".like").classList.toggle("liked", liked);
    element.querySelector(".like").setAttribute("aria-pressed", String(liked));
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
  if (item.because) return `because you liked ${item.because.title || item.because.id}${colours}`;
  return (item.reason || "") + colours;
}

async function loadFeed() {
  const known = localStorage.getItem("dressup.token");
  try {  // a new visitor gets popular items at once, before any like
    const feed = known ? await api(`/users/me/recommendations?k=12&${filterParams()}`)
      : await api("/recommend", {method: "POST", json: Object.assign({liked: [], k: 12}, filterObject())});
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

function addToCart(itemId) {
  if (!state.cart.includes(itemId)) state.cart.push(itemId);
  saveCart();
  signal(itemId, "cart");
  say("Added to the cart.");
}

async function renderCart() {
  const items = await Promise.all(state.cart.map((id) => api(`/items/${encodeURIComponent(id)}`).catch(() => null)));
  state.cart = items.filter(Boolean).map((item) => item.id);
  saveCart();
  fill($("#cart-grid"), items.filter(Boolean));
  $("#cart-grid").querySelectorAll(".add").forEach((button) => {
    button.textContent = "Remove";
    button.onclick = () => {
      state.cart = state.cart.filter((id) => id !== button.closest(".card").dataset.id);
      saveCart();
      renderCart();
    };
  });
}

async function completeOutfits() {
  if (!state.cart.length) return say("Put an item in the cart first.");
  try {
    const request = {items: state.cart, n: 3};
    const gender = filterObject().gender;  // the category filter is for browsing: an outfit needs other categories
    if (gender) request.gender = gender;
    const result = await api("/outfits", {method: "POST", json: request});
    $("#outfits").replaceChildren(...result.outfits.map((outfit, number) => {
      const row = document.createElement("div");
      row.className = "outfit";
      const title = document.createElement("h3");
      const total = outfit.total_price == null ? "" : `, ${outfit.total_price.toFixed(2)} in all`;
      const source = outfit.source === "stylist" ? "by our stylists" : "suggested";
      title.textContent = `Outfit ${number + 1}, ${source} (match ${outfit.score.toFixed(2)}${total})`;
      row.dataset.source = outfit.source;
      const grid = document.createElement("div");
      grid.className = "grid";
      fill(grid, outfit.items, (i) => (i.given ? "in your cart" : i.replaces ? `${i.slot} (stands in)` : i.slot));
      row.append(title, grid);
      return row;
    }));
    say(result.outfits.length ? "" : "No outfit fits these items and filters.");
  } catch (error) { say(error.message); }
}

// -- start --------------------------------------------------------------------------------------
async function loadFacets() {
  try {
    const facets = await api("/facets");
    for (const name of ["category", "gender", "colour"]) {
      const select = $(`#filters select[name=${name}]`);
      for (const value of facets.values[name] || []) select.add(new Option(value, value));
    }
  } catch (error) { say(error.message); }
}

document.querySelectorAll("nav button").forEach((button) => { button.onclick = () => show(button.dataset.view); });
$("#filters").onsubmit = (event) => {
  event.preventDefault();
  searchText(false);  // the catalog, or the search typed, under the new filters
  if ($("#feed").classList.contains("active")) loadFeed();
};
$("#more").onclick = () => loadCatalog(true);
$("#message").onclick = () => say("");
$("#upload input").onchange = (event) => event.target.files[0] && searchPhoto(event.target.files[0]);
$("#complete").onclick = completeOutfits;
$("#search input").oninput = debounced(() => searchText(), 250);
$("#search").onsubmit = (event) => { event.preventDefault(); searchText(); };
$("#refine").onsubmit = (event) => { event.preventDefault(); refinePhoto(); };
saveCart();
renderAccount();
loadFacets();
loadCatalog().then(loadLiked);
